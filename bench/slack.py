"""Slack channel figures, side by side with a baseline in one run.

1. Acknowledgement: signed `block_actions` clicks POSTed to
   /slack/interactions (signature verified, replay guard, payload parsed, the
   review started in the background) against GET /healthz on the same server,
   same client, same concurrency. Slack wants an answer within 3 s.
2. Notification: from `POST /v1/actions` answering `pending` to the fake Slack
   API receiving `chat.postMessage` (outbox feeder + Slack worker).

Usage: python3 bench/slack.py SIGNOFF_BIN  (run by bench/run.sh slack)
"""

import hashlib
import hmac
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CLICKS = int(os.environ.get("CLICKS", "4000"))
CONCURRENCY = int(os.environ.get("CONCURRENCY", "16"))
REQUESTS = int(os.environ.get("REQUESTS", "200"))

posted = {}  # reason -> arrival time
posted_lock = threading.Lock()


class FakeSlack(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without this, Nagle and
        # delayed ACKs add 40 ms to every call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path.endswith("chat.postMessage"):
            v = json.loads(body)
            blocks = json.dumps(v.get("blocks"))
            if "thread_ts" not in v:
                marker = blocks.split("bench-")[1].split("\\n")[0].split('"')[0] if "bench-" in blocks else ""
                with posted_lock:
                    posted.setdefault(marker, time.perf_counter())
            self.reply({"ok": True, "channel": v["channel"], "ts": f"{time.time():.6f}"})
        else:
            self.reply({"ok": True})

    def do_GET(self):
        self.reply({"ok": True, "user": {"id": "U", "profile": {"email": "nobody@example.com"}}})


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # signoff closing its connections at shutdown is not news


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def load(port, make_request, n, concurrency):
    """Sends n requests over `concurrency` keep-alive connections; returns latencies (s)."""
    latencies = []
    lock = threading.Lock()
    counter = iter(range(n))

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port)
        mine = []
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            method, path, body, headers = make_request(i)
            t = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            mine.append(time.perf_counter() - t)
            if r.status != 200:
                raise SystemExit(f"{path}: HTTP {r.status}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - start


def main():
    binary = sys.argv[1]
    fake_port = free_port()
    server = QuietServer(("127.0.0.1", fake_port), FakeSlack)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    d = tempfile.mkdtemp()
    os.makedirs(f"{d}/policies")
    for f in os.listdir("crates/policy/starter"):
        with open(f"crates/policy/starter/{f}") as src, open(f"{d}/policies/{f}", "w") as dst:
            dst.write(src.read())
    with open(f"{d}/signoff.toml", "w") as f:
        f.write(f"""
[server]
data_dir = "data"
[policy]
dir = "policies"
[[users]]
id = "rita"
groups = ["reviewers"]
[[agents]]
name = "bench"
owner = "rita"
[[targets]]
name = "shell"
kind = "shell"
[slack]
channel = "C_BENCH"
api_base = "http://127.0.0.1:{fake_port}/api"
[slack.users]
U_RITA = "rita"
""")
    cfg = f"{d}/signoff.toml"
    key = subprocess.check_output([binary, "--config", cfg, "keys", "create", "--principal", "agent:bench"], text=True).strip()
    port = free_port()
    env = dict(os.environ, SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=SECRET, SIGNOFF_LOG="error")
    proc = subprocess.Popen([binary, "--config", cfg, "serve", "--listen", f"127.0.0.1:{port}"], env=env,
                            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.05)

        # Signed bodies made in advance, so the client's own cost is the same
        # as for /healthz.
        now = int(time.time())
        clicks = []
        for i in range(CLICKS):
            payload = json.dumps({"type": "block_actions", "user": {"id": "U_RITA", "team_id": "T"},
                                  "trigger_id": f"t{i}", "response_url": f"http://127.0.0.1:{fake_port}/response",
                                  "actions": [{"action_id": "signoff_approve", "value": str(uuid.uuid4())}]})
            body = urllib.parse.urlencode({"payload": payload}).encode()
            sig = "v0=" + hmac.new(SECRET.encode(), f"v0:{now}:".encode() + body, hashlib.sha256).hexdigest()
            clicks.append(("POST", "/slack/interactions", body,
                           {"content-type": "application/x-www-form-urlencoded",
                            "x-slack-request-timestamp": str(now), "x-slack-signature": sig}))

        health = lambda i: ("GET", "/healthz", None, {})
        load(port, health, 500, CONCURRENCY)  # warm up
        base, base_s = load(port, health, CLICKS, CONCURRENCY)
        acks, acks_s = load(port, lambda i: clicks[i], CLICKS, CONCURRENCY)
        b50, b99 = percentile(base, 0.5) * 1e3, percentile(base, 0.99) * 1e3
        a50, a99 = percentile(acks, 0.5) * 1e3, percentile(acks, 0.99) * 1e3
        print(f"  ack, {CLICKS} signed clicks, {CONCURRENCY} connections: p50 {a50:.2f} ms, p99 {a99:.2f} ms, "
              f"{CLICKS / acks_s:.0f}/s | /healthz p50 {b50:.2f} ms, p99 {b99:.2f} ms, {CLICKS / base_s:.0f}/s "
              f"| p99 ratio {a99 / b99:.2f}x (Slack allows 3000 ms)")

        # Request -> Slack message, one request at a time.
        delays = []
        conn = http.client.HTTPConnection("127.0.0.1", port)
        for i in range(REQUESTS):
            marker = f"{i:06d}"
            body = json.dumps({"target": "shell", "kind": "exec", "payload": {"command": f"rm -rf /tmp/x{i}"},
                               "reason": f"bench-{marker}"})
            conn.request("POST", "/v1/actions", body=body,
                         headers={"authorization": f"Bearer {key}", "content-type": "application/json"})
            r = conn.getresponse()
            r.read()
            answered = time.perf_counter()
            deadline = answered + 10
            while time.perf_counter() < deadline:
                with posted_lock:
                    at = posted.get(marker)
                if at is not None:
                    delays.append(at - answered)
                    break
                time.sleep(0.0005)
        d50, d99 = percentile(delays, 0.5) * 1e3, percentile(delays, 0.99) * 1e3
        print(f"  notification, {len(delays)}/{REQUESTS} requests: pending answer -> chat.postMessage "
              f"p50 {d50:.1f} ms, p99 {d99:.1f} ms")
        conn.request("GET", "/metrics")
        metrics = conn.getresponse().read().decode()
        retries = [l for l in metrics.splitlines() if l.startswith("signoff_channel_deliveries_total")]
        print("  deliveries: " + "; ".join(l.split("{")[1] for l in retries))
        with open("bench/out/slack.txt", "a") as out:
            out.write(json.dumps({"ack_p50_ms": a50, "ack_p99_ms": a99, "healthz_p50_ms": b50, "healthz_p99_ms": b99,
                                  "notify_p50_ms": d50, "notify_p99_ms": d99}) + "\n")
    finally:
        proc.terminate()
        proc.wait()
        server.shutdown()


if __name__ == "__main__":
    main()
