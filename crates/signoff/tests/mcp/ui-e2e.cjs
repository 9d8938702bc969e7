// Drives the web inbox in headless Chromium (Debian's) with playwright-core.
// Usage: node ui-e2e.cjs BASE_URL REVIEWER_KEY REQUESTER_KEY AGENT_KEY REQUEST_ID SCREENSHOT_DIR
const { chromium } = require("playwright-core");

const [base, reviewerKey, requesterKey, agentKey, requestId, shots] = process.argv.slice(2);
const step = (text) => console.log(`step: ${text}`);
function expect(cond, what) {
  if (!cond) throw new Error(`expected ${what}`);
}

async function signIn(page, key) {
  expect(page.url().includes("/ui/login"), `the sign-in page, got ${page.url()}`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForLoadState();
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    // The requester's human sees the request but cannot approve it.
    const owner = await browser.newContext();
    let page = await owner.newPage();
    await page.goto(`${base}/ui/requests/${requestId}`);
    await signIn(page, requesterKey);
    expect(page.url().endsWith(`/ui/requests/${requestId}`), `to land back on the request, got ${page.url()}`);
    expect(await page.getByRole("button", { name: "Approve" }).count() === 0, "no Approve button for the requester");
    expect((await page.locator("#no-review").innerText()).includes("on behalf of them"), "the reason the requester cannot review");
    await page.screenshot({ path: `${shots}/1-requester-view.png`, fullPage: true });
    // Forcing a review past the missing button: the server refuses it.
    const csrf = await page.locator("form.logout input[name=csrf]").inputValue();
    const forged = await page.evaluate(async ([id, csrf]) => {
      const body = new URLSearchParams({ csrf, verdict: "approve", comment: "" });
      const r = await fetch(`/ui/requests/${id}/review`, { method: "POST", body });
      return r.url;
    }, [requestId, csrf]);
    expect(decodeURIComponent(forged).includes("error="), `a refusal, got ${forged}`);
    step("requester refused");
    await owner.close();

    // A reviewer on a phone-sized screen.
    const reviewer = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    page = await reviewer.newPage();
    await page.goto(`${base}/ui/requests`);
    await signIn(page, reviewerKey);
    expect(page.url().endsWith("/ui/requests"), `the pending list, got ${page.url()}`);
    await page.locator(`a[href="/ui/requests/${requestId}"]`).waitFor();
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(scrollWidth <= 390, `no sideways scrolling on a phone (width ${scrollWidth})`);
    await page.screenshot({ path: `${shots}/2-pending.png`, fullPage: true });
    step("pending list shown");

    // A new request appears without a reload.
    const marker = await page.evaluate(() => (window.__marker = Math.random()));
    const created = await fetch(`${base}/v1/actions`, {
      method: "POST",
      headers: { authorization: `Bearer ${agentKey}`, "content-type": "application/json" },
      body: JSON.stringify({ target: "prod-shell", kind: "exec", payload: { command: "rm -rf /srv/live-update" }, reason: "live" }),
    }).then((r) => r.json());
    expect(created.decision === "pending", `a pending request, got ${JSON.stringify(created)}`);
    await page.locator(`a[href="/ui/requests/${created.approval.id}"]`).waitFor({ timeout: 15000 });
    expect(await page.evaluate(() => window.__marker) === marker, "the list to update in place, not by reloading");
    step("live update seen");

    // Open, read and approve.
    await page.locator(`a[href="/ui/requests/${requestId}"]`).click();
    await page.waitForURL(`**/ui/requests/${requestId}`);
    const facts = await page.locator("dl.facts").innerText();
    for (const needle of ["agent:bot", "olivia", "prod-shell", "env=prod", "disk is full", "changes-need-approval", "0 of 1"]) {
      expect(facts.includes(needle), `${needle} in the facts: ${facts}`);
    }
    expect((await page.locator("pre.payload").innerText()).includes("rm -rf /var/log/payments/old"), "the exact payload");
    expect(!(await page.content()).includes("ghp_abcdefghij"), "secrets masked on the page");
    await page.getByLabel(/Comment/).fill("checked the disk, go ahead");
    await page.screenshot({ path: `${shots}/3-detail.png`, fullPage: true });
    await page.getByRole("button", { name: "Approve" }).click();
    await page.waitForLoadState();
    expect((await page.locator("[role=status]").innerText()).includes("Your approval is recorded"), "a confirmation");
    expect((await page.locator("dl.facts").innerText()).includes("approved"), "the request approved");
    await page.screenshot({ path: `${shots}/4-approved.png`, fullPage: true });
    step("approved");

    await page.getByRole("link", { name: "History" }).click();
    await page.waitForURL("**/ui/history");
    const history = await page.locator("main").innerText();
    expect(history.includes("approved"), `the request in history: ${history}`);
    await page.screenshot({ path: `${shots}/5-history.png`, fullPage: true });
    step("history shown");

    await page.getByRole("link", { name: "Audit log" }).click();
    await page.waitForURL("**/ui/audit");
    expect((await page.locator("#chain").innerText()).startsWith("Chain verified"), "the chain verified");
    await page.selectOption("select[name=kind]", "review.submitted");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL("**kind=review.submitted**");
    const rows = await page.locator("tbody tr").allInnerTexts();
    expect(rows.length === 1 && rows[0].includes("user:rita"), `rita's review alone: ${rows}`);
    await page.screenshot({ path: `${shots}/6-audit.png`, fullPage: true });
    step("audit filtered");

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL("**/ui/login");
    await page.goto(`${base}/ui/requests`);
    expect(page.url().includes("/ui/login"), "signed out");
    step("signed out");
    await reviewer.close();
  } finally {
    await browser.close();
  }
  console.log("ui ok");
})().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
