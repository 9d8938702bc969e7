// Drives signoff's MCP front door with the official TypeScript SDK.
//
// usage: node client.mjs URL TOKEN STEPS_JSON  (the same contract as client.py)
// URL is the /mcp/{name} endpoint, or `stdio:BIN:NAME:SIGNOFF_URL` to run
// `BIN mcp --server NAME`. Prints one JSON line per step after {"server": name}.
// With SIGNOFF_TEST_MCP_MODE (`auto`, or a revision to pin such as 2026-07-28)
// it is the v2 SDK (@modelcontextprotocol/client) negotiating the revision,
// which it then names in the greeting ("protocol"); otherwise the v1 SDK.
const mode = process.env.SIGNOFF_TEST_MCP_MODE;
const { Client, StreamableHTTPClientTransport, StdioClientTransport } = mode
  ? { ...(await import("@modelcontextprotocol/client")), ...(await import("@modelcontextprotocol/client/stdio")) }
  : {
      ...(await import("@modelcontextprotocol/sdk/client/index.js")),
      ...(await import("@modelcontextprotocol/sdk/client/streamableHttp.js")),
      ...(await import("@modelcontextprotocol/sdk/client/stdio.js")),
    };

const [url, token, stepsJson] = process.argv.slice(2);
const steps = JSON.parse(stepsJson);

let transport;
if (url.startsWith("stdio:")) {
  const [, bin, name, ...base] = url.split(":");
  transport = new StdioClientTransport({
    command: bin,
    args: ["mcp", "--server", name],
    env: { SIGNOFF_URL: base.join(":"), SIGNOFF_TOKEN: token, PATH: process.env.PATH ?? "" },
  });
} else {
  transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
}

const negotiation = mode === "auto" ? { mode } : { mode: { pin: mode } };
const client = new Client({ name: "signoff-test", version: "1.0.0" }, mode ? { versionNegotiation: negotiation } : undefined);
await client.connect(transport);
const greeting = { server: client.getServerVersion()?.name };
if (mode) greeting.protocol = client.getNegotiatedProtocolVersion();
console.log(JSON.stringify(greeting));
for (const step of steps) {
  try {
    if (step[0] === "list") {
      const { tools } = await client.listTools();
      console.log(JSON.stringify({ tools: tools.map((t) => t.name).sort() }));
    } else {
      const [, name, args] = step;
      let progress = 0;
      const r = await client.callTool({ name, arguments: args }, undefined, {
        onprogress: () => progress++,
        timeout: 120000,
      });
      const text = r.content.filter((c) => c.type === "text").map((c) => c.text).join("");
      console.log(JSON.stringify({ isError: r.isError ?? false, text, progress }));
    }
  } catch (e) {
    console.log(JSON.stringify({ error: String(e) }));
  }
}
await client.close();
