#!/usr/bin/env python3
"""Writes corpus.tsv: `label<TAB>text` lines. label is the one detector whose
value the line contains, or `none` for a look-alike that must not be masked.
Deterministic (fixed seed); rerun after changing it: python3 generate.py"""
import random, string
r = random.Random(20261122)
out = []
def add(label, text): out.append(f"{label}\t{text}")
def rs(n, alphabet=string.ascii_letters + string.digits): return "".join(r.choice(alphabet) for _ in range(n))

def luhn_complete(prefix, length):
    digits = [int(c) for c in prefix] + [r.randint(0, 9) for _ in range(length - len(prefix) - 1)]
    for check in range(10):
        d = digits + [check]
        s = sum((x * 2 - 9 if x * 2 > 9 else x * 2) if i % 2 == 1 else x for i, x in enumerate(reversed(d)))
        if s % 10 == 0:
            return "".join(map(str, d))
def iban(country, bban):
    rearranged = bban + country + "00"
    num = "".join(str(int(c, 36)) for c in rearranged)
    check = 98 - int(num) % 97
    return f"{country}{check:02d}{bban}"
def group4(s): return " ".join(s[i:i+4] for i in range(0, len(s), 4))

templates = ["user {} signed in", "contact: {}", "UPDATE users SET note = '{}' WHERE id = 7", '{{"value": "{}"}}', "forwarding {} to support", "{}"]
T = lambda v: r.choice(templates).format(v)

names = ["alice", "bob.smith", "c.ng", "dev+ops", "maria_garcia", "li.wei", "o'neil"[:5], "zoe99"]
domains = ["example.com", "corp.example.org", "mail.co.uk", "acme.io", "uni.edu"]
for i in range(22): add("email", T(f"{r.choice(names)}{r.randint(1,99)}@{r.choice(domains)}"))
for i in range(8): add("phone", T(f"+1{r.randint(201,989)}{r.randint(200,999)}{r.randint(1000,9999)}"))
for i in range(6): add("phone", T(f"({r.randint(201,989)}) {r.randint(200,999)}-{r.randint(1000,9999)}"))
for i in range(4): add("phone", T(f"{r.randint(201,989)}-{r.randint(200,999)}-{r.randint(1000,9999)}"))
for i in range(4): add("phone", T(f"+44 20 {r.randint(7000,7999)} {r.randint(1000,9999)}"))
for i in range(3): add("phone", T(f"030 {r.randint(1000,9999)} {r.randint(1000,9999)}"))
for pre, ln in [("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16), ("4", 19)]:
    for k in range(3):
        n = luhn_complete(pre, ln)
        add("credit_card", T(r.choice([n, group4(n), "-".join(n[i:i+4] for i in range(0, len(n), 4))])))
for country, blen in [("DE", 18), ("GB", 18), ("FR", 23), ("NL", 14), ("ES", 20)]:
    for k in range(4):
        bban = (rs(4, string.ascii_uppercase) if country in ("GB", "NL") else rs(4, string.digits)) + rs(blen - 4, string.digits)
        v = iban(country, bban)
        add("iban", T(r.choice([v, group4(v)])))
for i in range(20):
    area = r.choice([x for x in range(1, 900) if x != 666])
    add("us_ssn", T(f"{area:03d}-{r.randint(1,99):02d}-{r.randint(1,9999):04d}"))
for i in range(20): add("ipv4", T(f"{r.randint(1,223)}.{r.randint(0,255)}.{r.randint(0,255)}.{r.randint(1,254)}"))
for v6 in ["2001:db8::1", "fe80::1ff:fe23:4567:890a", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "::ffff:10.0.0.1"[:0] or "2001:db8:0:1::42", "fd00::abcd:1", "2606:4700:4700::1111", "2001:4860:4860::8888", "fe80::a00:27ff:fe4e:66a1"]:
    add("ipv6", T(v6)); add("ipv6", T(v6.upper()))
for i in range(20): add("aws_access_key_id", T(r.choice(["AKIA", "ASIA"]) + rs(16, string.ascii_uppercase + string.digits)))
for i in range(15): add("aws_secret_key", r.choice(["aws_secret_access_key = {}", "AWS_SECRET_ACCESS_KEY={}", 'aws_secret_key: "{}"']).format(rs(40, string.ascii_letters + string.digits + "/+")))
for i in range(10): add("github_token", T("ghp_" + rs(36)))
for i in range(6): add("github_token", T("github_pat_" + rs(22) + "_" + rs(59)))
for i in range(15): add("gitlab_token", T("glpat-" + rs(20, string.ascii_letters + string.digits + "-_")))
for i in range(10): add("slack_token", T(r.choice(["xoxb-", "xoxp-"]) + f"{r.randint(10**10,10**11)}-{r.randint(10**10,10**11)}-" + rs(24)))
for i in range(5): add("slack_token", T(f"https://hooks.slack.com/services/T{rs(8, string.ascii_uppercase)}/B{rs(8, string.ascii_uppercase)}/{rs(24)}"))
for i in range(15): add("stripe_key", T(r.choice(["sk_live_", "rk_live_", "sk_test_"]) + rs(24)))
for i in range(15): add("openai_key", T(r.choice(["sk-proj-", "sk-"]) + rs(48, string.ascii_letters + string.digits + "_-")))
for i in range(15): add("anthropic_key", T("sk-ant-api03-" + rs(80, string.ascii_letters + string.digits + "_-")))
import base64, json
def b64(o): return base64.urlsafe_b64encode(json.dumps(o).encode()).decode().rstrip("=")
for i in range(15): add("jwt", T(b64({"alg": "HS256", "typ": "JWT"}) + "." + b64({"sub": str(r.randint(1, 10**6)), "iat": 1700000000 + i}) + "." + rs(43, string.ascii_letters + string.digits + "_-")))
for i in range(10): add("private_key", r.choice(["", "key=", "pem: "]) + f"-----BEGIN {r.choice(['RSA ', 'EC ', 'OPENSSH ', ''])}PRIVATE KEY----- {rs(64)} {rs(40)} -----END {'RSA ' if False else ''}PRIVATE KEY-----".replace("END PRIVATE", "END PRIVATE"))
for i in range(15): add("url_password", T(f"{r.choice(['postgres', 'mysql', 'redis', 'https', 'amqp'])}://{r.choice(['app', 'admin', 'svc'])}:{rs(12)}@{r.choice(['db', 'cache.internal', 'mq'])}:{r.randint(1000,9999)}/x"))
for i in range(15): add("secret", r.choice(["password={}", "PASSWORD: {}", 'api_key="{}"', "client_secret={}", "auth_token: {}", "passwd={}"]).format(rs(r.randint(6, 20))))

# Look-alikes that must stay as they are.
neg = []
for i in range(15): neg.append(f"order #{luhn_complete('4', 16)[:-1]}{(int(luhn_complete('4', 16)[-1]) + 1) % 10} shipped"[:0] or f"order {r.randint(10**15, 10**16 - 1)} shipped")
for i in range(10): neg.append(f"at 2026-{r.randint(1,12):02d}-{r.randint(1,28):02d} {r.randint(0,23):02d}:{r.randint(0,59):02d}:{r.randint(0,59):02d} UTC")
for i in range(10): neg.append(f"trace {rs(8, '0123456789abcdef')}-{rs(4, '0123456789abcdef')}-4{rs(3, '0123456789abcdef')}-a{rs(3, '0123456789abcdef')}-{rs(12, '0123456789abcdef')}")
for i in range(10): neg.append(f"version {r.randint(0,20)}.{r.randint(0,40)}.{r.randint(0,99)} released")
for i in range(10): neg.append(f"commit {rs(40, '0123456789abcdef')}")
for i in range(10): neg.append(f"sha256 {rs(64, '0123456789abcdef')}")
for i in range(10): neg.append(f"ssn-like {r.choice(['000', '666', '9' + str(r.randint(10,99))])}-{r.randint(1,99):02d}-{r.randint(1,9999):04d}")
for i in range(8): neg.append(f"listen on {r.randint(256,999)}.{r.randint(0,255)}.{r.randint(0,255)}.{r.randint(0,255)}")
for i in range(8): neg.append(f"elapsed {r.randint(0,23):02d}:{r.randint(0,59):02d}:{r.randint(0,59):02d}")
for i in range(8): neg.append(r.choice(["reset your password from the settings page", "the secret is to keep going", "api keys are rotated monthly", "token bucket refill rate", "enter password to continue"]))
for i in range(8): neg.append(f"price ${r.randint(1,999)}.{r.randint(0,99):02d} qty {r.randint(1,50)}")
for i in range(6): neg.append(f"color #{rs(6, '0123456789abcdef')} port {r.randint(1024,65535)}")
for i in range(6): neg.append(f"user bob@localhost")
for i in range(6): neg.append(f"AKIA{rs(8, string.ascii_uppercase)} truncated id")
for i in range(6): neg.append(f"sk-{rs(8)} too short")
for i in range(6): neg.append(f"DE{r.randint(10,99)} {rs(4, string.digits)} {rs(4, string.digits)} {rs(4, string.digits)} {rs(4, string.digits)} {rs(2, string.digits)}")
for i in range(6): neg.append(f"build {r.randint(1000,9999)}-{r.randint(100,999)}-{r.randint(10,99)}")
for line in neg: add("none", line)
with open("corpus.tsv", "w") as f:
    f.write("# label<TAB>text; generated by generate.py (seed 20261122); `none` lines must not be masked\n")
    f.write("\n".join(out) + "\n")
print(len(out), "lines")
