#!/usr/bin/env bash
# Runs every signoff benchmark beside its baseline in one go and prints the ratios.
#
#   bench/run.sh            all of them (about 5 minutes)
#   bench/run.sh decide     one section: decide | audit | wake | api | mask | mcp | mcpab | mcpcount | pg | pgcount | pgab | slack
#
# The mask section compares with Presidio when PRESIDIO_PYTHON names a Python
# with presidio-analyzer and presidio-anonymizer installed (see bench/mask.py).
#
# The mcp section's upstream is the rmcp fixture server (crates/signoff/examples/mcp_upstream.rs),
# over HTTP and, as a `command` target, over stdio;
# nginx (Debian package nginx-light; installed here if missing and apt works) runs
# beside signoff as a plain reverse proxy, the cost of one HTTP hop.
# MCP_BENCH_CALLS sets the calls per client (default 200), MCP_BENCH_ROUNDS the
# alternating 32-client rounds whose median added p99 is printed (default 3).
# With perf (Debian package linux-perf) the store writer's own fsyncs are
# traced during those rounds; without it a probe times the disk instead.
#
# The pg section needs PostgreSQL at PG_URL (default the test server), pgbench,
# and pgbouncer (Debian package; installed here if missing and apt works). Every
# leg is plaintext, the direct one included; a plain tokio byte relay
# (example tcp_relay) runs beside them as the runtime's own floor.
# pgcount (valgrind) keeps each mode's profile in bench/out/pgcount-MODE.callgrind
# for callgrind_annotate. pgab compares two signoff builds or settings round by
# round (PGAB_A, PGAB_B, PGAB_A_ENV, PGAB_B_ENV, PGAB_ROUNDS, PGAB_MODE); it
# runs only when named. mcpab does the same for the MCP door (MCPAB_A, MCPAB_B,
# MCPAB_A_ENV, MCPAB_B_ENV, MCPAB_B_TMPDIR, MCPAB_ROUNDS), 32 clients per round; mcpcount counts
# instructions per MCP call as pgcount does per statement (bench/out/mcpcount.callgrind).
#
# Needs: wrk (Debian package `wrk`; installed here if missing and apt works).
# Figures land in bench/out/ and are summarised in bench/RESULTS.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
only="${1:-all}"
want() { [ "$only" = all ] || [ "$only" = "$1" ]; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }   # user+system CPU of a process
free_port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"; }

# A callgrind profile's instructions per unit of work ($2 units), whole and
# without software SHA-256 (valgrind hides SHA-NI from sha2, which then hashes
# in software, ~10x the instructions of the real run).
instructions_per() {
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null | python3 -c "
import re, sys
total = sha = 0
for line in sys.stdin:
    m = re.match(r'\s*([\d,]+) \(', line)
    if not m: continue
    n = int(m[1].replace(',', ''))
    if 'PROGRAM TOTALS' in line: total = n
    elif 'sha2::sha256::soft::compress [' in line and not sha: sha = n
print(round(total / $2), round((total - sha) / $2))"
}

# perf trace of one process's store writer thread's fsyncs into $2, in the
# background until fsync_trace_stop; nothing when perf cannot trace here.
fsync_trace_start() {
  rm -f "$2"
  local tid
  tid=$(grep -l '^signoff-store-w' /proc/"$1"/task/*/comm 2>/dev/null | head -1 | cut -d/ -f5)
  [ -n "$tid" ] && command -v perf >/dev/null || return 0
  perf trace -t "$tid" -e fsync -o "$2" >/dev/null 2>&1 &
  fsync_trace_pid=$!
  sleep 1
}
fsync_trace_stop() {
  [ -n "${fsync_trace_pid:-}" ] || return 0
  kill -INT "$fsync_trace_pid" 2>/dev/null || true
  wait "$fsync_trace_pid" 2>/dev/null || true
  fsync_trace_pid=""
}
fsync_trace_report() { # $1: perf trace output, $2: what it was
  python3 - "$1" "$2" <<'PY'
import re, sys
ms = sorted(float(m[1]) for m in re.finditer(r"\(\s*([0-9.]+) ms\): fsync", open(sys.argv[1]).read()))
if ms:
    q = lambda p: ms[min(len(ms) - 1, int(len(ms) * p))]
    print(f"  {sys.argv[2]}: {len(ms)} fsyncs, p50 {q(0.5):.2f} ms, p90 {q(0.9):.2f} ms, p99 {q(0.99):.2f} ms"
          " (each allowed call waits for at least one)")
PY
}

median_us() { # criterion estimates → median in µs
  python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['median']['point_estimate']/1000, 2))" "target/criterion/$1/new/estimates.json"
}

if want decide; then
  echo "== decide: classify + decide vs raw Cedar, 100 policies"
  cargo bench -q -p signoff-policy --bench decide -- --warm-up-time 2 --measurement-time 5 >bench/out/decide.txt 2>&1
  for kind in sql exec; do
    raw=$(median_us "$kind/cedar_is_authorized")
    dec=$(median_us "$kind/signoff_decide")
    all=$(median_us "$kind/signoff_classify_and_decide")
    memo=$(median_us "$kind/signoff_decide_memoized")
    ratio=$(python3 -c "print(round($all/$raw, 2))")
    echo "  $kind: raw cedar ${raw} µs | signoff decide ${dec} µs | memoized ${memo} µs | classify+decide ${all} µs | ratio ${ratio}x"
  done
fi

if want audit; then
  echo "== audit: durable appends, group commit vs one writer"
  cargo bench -q -p signoff-store --bench audit_append -- --warm-up-time 1 --measurement-time 5 >bench/out/audit.txt 2>&1
  one=$(python3 -c "import json; e=json.load(open('target/criterion/audit_append/durable_events/1_writers/new/estimates.json')); print(round(512/(e['median']['point_estimate']/1e9)))")
  many=$(python3 -c "import json; e=json.load(open('target/criterion/audit_append/durable_events/64_writers/new/estimates.json')); print(round(512/(e['median']['point_estimate']/1e9)))")
  echo "  1 writer: ${one} events/s | 64 writers: ${many} events/s | ratio $(python3 -c "print(round($many/$one, 1))")x"
fi

if want wake; then
  echo "== wake: approve -> held caller answered (in process, durable commit included)"
  WAKE_ROUNDS=500 cargo bench -q -p signoff-gateway --bench wake 2>/dev/null | tee bench/out/wake.txt | sed 's/^/  /'
fi

if want api; then
  command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null 2>&1 || { echo "install wrk (Debian package) for the api section"; exit 1; }; }
  echo "== api: POST /v1/actions (allowed, classified, decided, durably audited) vs GET /healthz, 64 connections"
  cargo build -q --release -p signoff
  dir=$(mktemp -d)
  port=$(free_port)
  SIGNOFF_LOG=warn target/release/signoff serve --data-dir "$dir/data" --listen "127.0.0.1:$port" 2>"$dir/serve.log" &
  pid=$!
  trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
  for _ in $(seq 100); do grep -q "Ctrl-C" "$dir/serve.log" 2>/dev/null && break; sleep 0.1; done
  export SIGNOFF_TOKEN=$(awk '/agent:demo-agent/ {print $2}' "$dir/serve.log")
  duration=${DURATION:-10s}
  wrk -t2 -c64 -d"$duration" --latency "http://127.0.0.1:$port/healthz" >bench/out/api-baseline.txt
  wrk -t2 -c64 -d"$duration" --latency -s bench/check.lua "http://127.0.0.1:$port/v1/actions" >bench/out/api-check.txt
  kill -TERM $pid; wait $pid 2>/dev/null || true
  rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
  p99() { awk '$1=="99%" {print $2}' "$1"; }
  errors() { awk '/Non-2xx/ {print $5}' "$1"; }
  base=$(rps bench/out/api-baseline.txt); check=$(rps bench/out/api-check.txt)
  echo "  /healthz:    ${base} req/s, p99 $(p99 bench/out/api-baseline.txt)"
  echo "  /v1/actions: ${check} req/s, p99 $(p99 bench/out/api-check.txt), non-2xx: $(errors bench/out/api-check.txt || true)"
  echo "  ratio: $(python3 -c "print(round($check/$base, 2))")x of the /healthz floor"
  verify=$(target/release/signoff audit verify --data-dir "$dir/data")
  echo "  audit after the run: $verify"
fi

if want mask; then
  echo "== mask: 10 MB mixed corpus and 1 KB payloads, every detector on"
  cargo bench -q -p signoff-mask --bench mask -- --warm-up-time 1 --measurement-time 5 >bench/out/mask.txt 2>&1
  echo "  in process: $(python3 -c "import json; e=json.load(open('target/criterion/mask/corpus_10mb_per_line/new/estimates.json')); print(round(10*1024*1024/(e['median']['point_estimate']/1e9)/1e6, 1))") MB/s, 1 KB p50 $(median_us mask_1kb/payload) µs"
  if [ -n "${PRESIDIO_PYTHON:-}" ]; then
    "$PRESIDIO_PYTHON" bench/mask.py | tee bench/out/mask-presidio.txt | sed 's/^/  /'
  else
    echo "  (set PRESIDIO_PYTHON to run Presidio beside it)"
  fi
fi

mcp_setup() { # builds, starts the fixture upstream and writes a signoff config in $dir
  cargo build -q --release -p signoff --bin signoff --example mcp_upstream
  cargo bench -q -p signoff-mcp --bench roundtrip --no-run 2>/dev/null
  bench_bin=$(ls -t $(find target/release/deps -maxdepth 1 -name 'roundtrip-*' -type f -executable) | head -1)
  dir=$(mktemp -d)
  up_port=$(free_port)
  so_port=$(free_port)
  target/release/examples/mcp_upstream --http "$up_port" >"$dir/upstream.log" 2>&1 &
  up_pid=$!
  mkdir -p "$dir/policies"
  cat >"$dir/policies/bench.cedar" <<'CEDAR'
@id("echo-allowed")
permit (principal, action == Action::"mcp_tool", resource)
when { context.mcp.tool == "echo" && context.mcp.arguments like "*ping*" };
CEDAR
  cat >"$dir/signoff.toml" <<TOML
[server]
data_dir = "data"
[policy]
dir = "policies"
[[users]]
id = "olivia"
groups = []
[[agents]]
name = "bench"
owner = "olivia"
[[targets]]
name = "upstream"
kind = "mcp"
url = "http://127.0.0.1:$up_port/mcp"
[[targets]]
name = "stdio"
kind = "mcp"
command = ["$PWD/target/release/examples/mcp_upstream"]
TOML
  token=$(target/release/signoff --config "$dir/signoff.toml" keys create --principal agent:bench)
}

if want mcp; then
  echo "== mcp: allowed tools/call round trip, direct to the upstream vs through nginx (plain reverse proxy) vs through signoff; in a session, then stateless (2026-07-28)"
  mcp_setup
  SIGNOFF_LOG=warn target/release/signoff --config "$dir/signoff.toml" serve --listen "127.0.0.1:$so_port" 2>"$dir/serve.log" &
  so_pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$so_port/healthz" >/dev/null && curl -s -o /dev/null "http://127.0.0.1:$up_port/mcp" && break; sleep 0.1; done
  # nginx as a plain reverse proxy to the same upstream: what one HTTP hop
  # costs on this machine before anything is decided or audited.
  ngx_port=""
  if command -v nginx >/dev/null || apt-get install -y -qq nginx-light >/dev/null 2>&1; then
    ngx_port=$(free_port)
    mkdir -p "$dir/nginx"
    cat >"$dir/nginx/nginx.conf" <<NGINX
worker_processes auto;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/nginx;
  proxy_temp_path $dir/nginx;
  upstream mcp { server 127.0.0.1:$up_port; keepalive 64; }
  server {
    listen 127.0.0.1:$ngx_port;
    location / {
      proxy_pass http://mcp;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_buffering off;
    }
  }
}
NGINX
    nginx -c "$dir/nginx/nginx.conf" -p "$dir/nginx" >/dev/null 2>&1
    trap 'kill "$(cat "$dir/nginx/nginx.pid" 2>/dev/null)" $so_pid $up_pid 2>/dev/null || true' EXIT
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$ngx_port/mcp" && break; sleep 0.1; done
  else
    echo "  (nginx not installed: the plain-proxy column is left out)"
  fi
  calls=${MCP_BENCH_CALLS:-200}
  total=$((calls * 33))   # 1 client, then 32
  u0=$(cpu_ticks $up_pid)
  MCP_BENCH_CALLS=$calls MCP_BENCH_URL="http://127.0.0.1:$up_port/mcp" "$bench_bin" >bench/out/mcp-direct.txt
  u1=$(cpu_ticks $up_pid); s1=$(cpu_ticks $so_pid)
  MCP_BENCH_CALLS=$calls MCP_BENCH_URL="http://127.0.0.1:$so_port/mcp/upstream" MCP_BENCH_TOKEN="$token" "$bench_bin" >bench/out/mcp-signoff.txt
  u2=$(cpu_ticks $up_pid); s2=$(cpu_ticks $so_pid)
  hz=$(getconf CLK_TCK)
  python3 -c "t=$total; print(f'  CPU per call: upstream {($u1-$u0)/$hz*1e6/t:.0f} µs direct, {($u2-$u1)/$hz*1e6/t:.0f} µs behind signoff; signoff {($s2-$s1)/$hz*1e6/t:.0f} µs')"
  # One p99 swings by milliseconds here from run to run, so the 32-client
  # target is also read as the median of alternating rounds.
  rounds=${MCP_BENCH_ROUNDS:-3}
  : >bench/out/mcp-rounds.txt
  # nginx runs in the same rounds, when installed: what a plain proxy adds on
  # this machine at the same moment, since neighbours move p99 between runs.
  # The store writer's own fsyncs during the rounds, by tracepoint (perf
  # trace does not slow the call as strace would); see the report below.
  fsync_trace_start "$so_pid" bench/out/mcp-fsync.txt
  for r in $(seq "$rounds"); do
    d=$(MCP_BENCH_CLIENTS=32 MCP_BENCH_CALLS=$calls MCP_BENCH_URL="http://127.0.0.1:$up_port/mcp" "$bench_bin")
    s=$(MCP_BENCH_CLIENTS=32 MCP_BENCH_CALLS=$calls MCP_BENCH_URL="http://127.0.0.1:$so_port/mcp/upstream" MCP_BENCH_TOKEN="$token" "$bench_bin")
    n=""
    [ -n "$ngx_port" ] && n=" | $(MCP_BENCH_CLIENTS=32 MCP_BENCH_CALLS=$calls MCP_BENCH_URL="http://127.0.0.1:$ngx_port/mcp" "$bench_bin")"
    echo "$d | $s$n" >>bench/out/mcp-rounds.txt
  done
  fsync_trace_stop
  # The stateless revision (MCP 2026-07-28): one self-contained POST per call.
  MCP_BENCH_STATELESS=1 MCP_BENCH_CALLS=$calls MCP_BENCH_URL="http://127.0.0.1:$up_port/mcp" "$bench_bin" >bench/out/mcp-stateless-direct.txt
  MCP_BENCH_STATELESS=1 MCP_BENCH_CALLS=$calls MCP_BENCH_URL="http://127.0.0.1:$so_port/mcp/upstream" MCP_BENCH_TOKEN="$token" "$bench_bin" >bench/out/mcp-stateless-signoff.txt
  # A stdio (`command`) target: a process per session, and for stateless
  # calls one per principal, shared (the count shows no process per call).
  stdio_procs() { { pgrep -f -x "$PWD/target/release/examples/mcp_upstream" || true; } | wc -l; }
  p0=$(stdio_procs)
  MCP_BENCH_STATELESS=1 MCP_BENCH_CALLS=$calls MCP_BENCH_URL="http://127.0.0.1:$so_port/mcp/stdio" MCP_BENCH_TOKEN="$token" "$bench_bin" >bench/out/mcp-stdio-stateless.txt
  echo "$(( $(stdio_procs) - p0 ))" >bench/out/mcp-stdio-started.txt
  MCP_BENCH_CALLS=$calls MCP_BENCH_URL="http://127.0.0.1:$so_port/mcp/stdio" MCP_BENCH_TOKEN="$token" "$bench_bin" >bench/out/mcp-stdio-session.txt
  rm -f bench/out/mcp-nginx.txt
  if [ -n "$ngx_port" ]; then
    ngx_ticks() { local t=0 p; for p in $(pgrep -P "$(cat "$dir/nginx/nginx.pid")"); do t=$((t + $(cpu_ticks "$p"))); done; echo $t; }
    n0=$(ngx_ticks)
    MCP_BENCH_CALLS=$calls MCP_BENCH_URL="http://127.0.0.1:$ngx_port/mcp" "$bench_bin" >bench/out/mcp-nginx.txt
    n1=$(ngx_ticks)
    python3 -c "print(f'  CPU per call: nginx (plain reverse proxy) {($n1-$n0)/$hz*1e6/$total:.0f} µs')"
    kill "$(cat "$dir/nginx/nginx.pid")" 2>/dev/null || true
  fi
  kill $so_pid $up_pid 2>/dev/null; wait $so_pid $up_pid 2>/dev/null || true
  python3 - <<'PY'
import os, re
def read(path):
    out = {}
    if not os.path.exists(path):
        return out
    for line in open(path):
        m = re.match(r"clients=(\d+) calls=(\d+) p50_us=(\d+) p99_us=(\d+)", line)
        if m:
            out[int(m[1])] = (int(m[3]), int(m[4]))
    return out
d, s, n = read("bench/out/mcp-direct.txt"), read("bench/out/mcp-signoff.txt"), read("bench/out/mcp-nginx.txt")
for c in sorted(d):
    (dp50, dp99), (sp50, sp99) = d[c], s[c]
    plain = ""
    if c in n:
        np50, np99 = n[c]
        plain = f"nginx p50 {np50/1000:.2f} ms p99 {np99/1000:.2f} ms (added p99 {(np99-dp99)/1000:+.2f} ms) | "
    print(f"  {c:>2} clients: direct p50 {dp50/1000:.2f} ms p99 {dp99/1000:.2f} ms | {plain}"
          f"signoff p50 {sp50/1000:.2f} ms p99 {sp99/1000:.2f} ms | added p99 {(sp99-dp99)/1000:+.2f} ms, "
          f"ratio p50 {sp50/dp50:.2f}x")
d, s = read("bench/out/mcp-stateless-direct.txt"), read("bench/out/mcp-stateless-signoff.txt")
for c in sorted(d):
    (dp50, dp99), (sp50, sp99) = d[c], s[c]
    print(f"  {c:>2} clients, 2026-07-28 (stateless): direct p50 {dp50/1000:.2f} ms p99 {dp99/1000:.2f} ms | "
          f"signoff p50 {sp50/1000:.2f} ms p99 {sp99/1000:.2f} ms | added p99 {(sp99-dp99)/1000:+.2f} ms")
a, b = read("bench/out/mcp-stdio-session.txt"), read("bench/out/mcp-stdio-stateless.txt")
started = open("bench/out/mcp-stdio-started.txt").read().strip()
for c in sorted(a):
    (ap50, ap99), (bp50, bp99) = a[c], b[c]
    print(f"  {c:>2} clients, stdio target through signoff: session p50 {ap50/1000:.2f} ms p99 {ap99/1000:.2f} ms | "
          f"stateless p50 {bp50/1000:.2f} ms p99 {bp99/1000:.2f} ms")
print(f"  stdio upstream processes the stateless calls started: {started} (one per principal, shared)")
PY
  python3 - <<'PY'
import re, statistics
added, plain = [], []
for line in open("bench/out/mcp-rounds.txt"):
    p99 = [int(re.search(r"p99_us=(\d+)", part)[1]) for part in line.split("|")]
    added.append((p99[1] - p99[0]) / 1000)
    if len(p99) > 2:
        plain.append((p99[2] - p99[0]) / 1000)
def show(who, values):
    rounds = ", ".join(f"{a:+.2f}" for a in values)
    print(f"  32 clients, {len(values)} alternating rounds, {who}: added p99 {rounds} ms; median {statistics.median(values):+.2f} ms")
if added:
    show("signoff", added)
if plain:
    show("nginx (plain proxy)", plain)
PY
  echo "  audit after the run: $(target/release/signoff audit verify --data-dir "$dir/data")"
  # Every allowed call waits for the group commit that makes its decision
  # durable (invariant 5), so the writer's fsync is a floor under the added
  # p99. Without perf, a probe writes and syncs WAL-sized frames beside the
  # audit at a 32-client rhythm; its figure is the disk's, not signoff's.
  if [ -s bench/out/mcp-fsync.txt ]; then
    fsync_trace_report bench/out/mcp-fsync.txt "the store writer's fsync during the 32-client rounds"
  else
    python3 - "$dir/data" <<'PY'
import os, sys, time
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
times, off = [], 0
for i in range(400):
    for _ in range(6):
        os.pwrite(fd, os.urandom(4120), off)
        off = (off + 4120) % (4 << 20)
    t = time.perf_counter(); os.fsync(fd); times.append(time.perf_counter() - t)
    time.sleep(0.0005)
os.close(fd); os.unlink(path)
times.sort()
print(f"  the data directory's disk (a probe; install linux-perf to trace signoff's own): fsync p50 "
      f"{times[200]*1e3:.2f} ms, p99 {times[395]*1e3:.2f} ms (each allowed call waits for one group commit's fsync)")
PY
  fi
fi

# A signoff with one PostgreSQL target and a pgbouncer config, both in front
# of the test database, in $dir (for the pg and pgcount sections).
pg_setup() {
  command -v pgbouncer >/dev/null || { apt-get install -y -qq pgbouncer >/dev/null 2>&1 || { echo "install pgbouncer (Debian package) for the $1 section"; exit 1; }; }
  cargo build -q --release -p signoff --bin signoff --example tcp_relay
  pg_host=127.0.0.1 pg_port=5432 pg_user=postgres pg_db=test
  dir=$(mktemp -d); chmod 755 "$dir"
  so_port=$(free_port)
  so_unix_port=$(free_port)
  pg_socket_dir=${PG_SOCKET_DIR:-/var/run/postgresql}
  pgb_port=$(free_port)
  http_port=$(free_port)
  pgbench -i -s 10 -q "host=$pg_host port=$pg_port user=$pg_user dbname=$pg_db" >/dev/null 2>&1
  mkdir -p "$dir/policies"; cp crates/policy/starter/*.cedar "$dir/policies/"
  cat >"$dir/signoff.toml" <<TOML
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
name = "db"
kind = "postgres"
listen = "127.0.0.1:$so_port"
upstream = "postgres://$pg_user@$pg_host:$pg_port/$pg_db"
[[targets]]
name = "dbunix"
kind = "postgres"
listen = "127.0.0.1:$so_unix_port"
upstream = "host=$pg_socket_dir port=$pg_port user=$pg_user dbname=$pg_db"
TOML
  key=$(target/release/signoff --config "$dir/signoff.toml" keys create --principal agent:bench)
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
$pg_db = host=$pg_host port=$pg_port user=$pg_user dbname=$pg_db
${pg_db}_unix = host=$pg_socket_dir port=$pg_port user=$pg_user dbname=$pg_db
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgb_port
auth_type = trust
auth_file = $dir/users.txt
pool_mode = session
max_client_conn = 100
default_pool_size = 20
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
  echo "\"$pg_user\" \"\"" >"$dir/users.txt"
  chown -R postgres "$dir" 2>/dev/null || true
  # Every leg in plaintext, as both proxies speak it: libpq's default
  # (`sslmode=prefer`) would put TLS on the direct path only, and make the
  # baseline slower than what it is compared with.
  direct_dsn="host=$pg_host port=$pg_port user=$pg_user dbname=$pg_db sslmode=disable"
  bouncer_dsn="host=127.0.0.1 port=$pgb_port user=$pg_user dbname=$pg_db sslmode=disable"
  signoff_dsn="host=127.0.0.1 port=$so_port user=agent:bench dbname=$pg_db sslmode=disable"
  # The same two proxies with their upstream leg on the database's Unix socket
  # (signoff beside the database); the clients still come over TCP.
  direct_unix_dsn="host=$pg_socket_dir port=$pg_port user=$pg_user dbname=$pg_db"
  bouncer_unix_dsn="host=127.0.0.1 port=$pgb_port user=$pg_user dbname=${pg_db}_unix sslmode=disable"
  signoff_unix_dsn="host=127.0.0.1 port=$so_unix_port user=agent:bench dbname=$pg_db sslmode=disable"
}

if want pg; then
  echo "== pg: pgbench -S, 8 clients: direct vs pgbouncer (session mode) vs signoff (every statement classified, decided, audited)"
  pg_setup pg
  duration=${DURATION:-15}
  SIGNOFF_LOG=warn target/release/signoff --config "$dir/signoff.toml" serve --listen "127.0.0.1:$http_port" 2>"$dir/serve.log" &
  so_pid=$!
  if [ "$(id -u)" = 0 ]; then pgbouncer -d -u postgres "$dir/pgbouncer.ini"; else pgbouncer -d "$dir/pgbouncer.ini"; fi
  # A plain byte relay on signoff's runtime (crates/signoff/examples/tcp_relay.rs):
  # what tokio's threads and wake-ups cost here before any statement is read.
  relay_port=$(free_port)
  target/release/examples/tcp_relay "127.0.0.1:$relay_port" "$pg_host:$pg_port" 2>/dev/null &
  relay_pid=$!
  relay_dsn="host=127.0.0.1 port=$relay_port user=$pg_user dbname=$pg_db sslmode=disable"
  trap 'kill $so_pid $relay_pid 2>/dev/null || true; kill "$(cat "$dir/pgbouncer.pid" 2>/dev/null)" 2>/dev/null || true' EXIT
  for _ in $(seq 100); do grep -q "Ctrl-C" "$dir/serve.log" 2>/dev/null && break; sleep 0.1; done
  # tps, then CPU µs per transaction of process $3 (the proxy), if given, as
  # total(user+system): the system part is mostly loopback sends and wake-ups,
  # which any proxy pays.
  # Also the whole machine's busy CPU per transaction (pgbench, PostgreSQL,
  # the proxy and the kernel's own threads), printed as "machine".
  busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
  tps() {
    local before out n after m0 m1
    before=$( [ -n "${3:-}" ] && awk '{print $14, $15}' "/proc/$3/stat" || echo 0 0)
    m0=$(busy_ticks)
    out=$(pgbench -n -S -c 8 -j 2 -T "$duration" -M "$1" "$2" 2>/dev/null)
    m1=$(busy_ticks)
    n=$(echo "$out" | awk '/actually processed/ {split($NF, a, "/"); print a[1]}')
    after=$( [ -n "${3:-}" ] && awk '{print $14, $15}' "/proc/$3/stat" || echo 0 0)
    python3 -c "
b, a, hz, n = [int(x) for x in '$before'.split()], [int(x) for x in '$after'.split()], $(getconf CLK_TCK), max($n, 1)
u, s = (a[0] - b[0]) / hz * 1e6 / n, (a[1] - b[1]) / hz * 1e6 / n
m = ($m1 - $m0) / hz * 1e6 / n
print(int($(echo "$out" | awk '/^tps/ {print $3}')), f'{u + s:.1f}({u:.1f}u+{s:.1f}s)', f'{m:.0f}')"
  }
  bouncer_pid=$(cat "$dir/pgbouncer.pid")
  # Both proxies' upstream leg over loopback TCP, then over the Unix socket.
  # "direct" is always pgbench over TCP, as the clients reach both proxies.
  [ -S "$pg_socket_dir/.s.PGSQL.$pg_port" ] && legs="tcp unix" || legs=tcp
  for leg in $legs; do
    case $leg in
      tcp) bdsn=$bouncer_dsn sdsn=$signoff_dsn ;;
      unix) bdsn=$bouncer_unix_dsn sdsn=$signoff_unix_dsn ;;
    esac
    for mode in simple extended; do
      read -r direct _ dmach <<<"$(tps $mode "$direct_dsn")"
      read -r bouncer bcpu bmach <<<"$(tps $mode "$bdsn" "$bouncer_pid")"
      read -r signoff scpu smach <<<"$(PGPASSWORD="$key" tps $mode "$sdsn" "$so_pid")"
      echo "$leg $mode $direct $bouncer $signoff $bcpu $scpu $dmach $bmach $smach" >>bench/out/pg.txt
      python3 -c "d,b,s=$direct,$bouncer,$signoff; print(f'  upstream {\"$leg\":<4} -M {\"$mode\":<8}: direct {d} tps | pgbouncer {b} tps ({b/d:.2f}x, $bcpu µs CPU/txn) | signoff {s} tps ({s/d:.2f}x, $scpu µs CPU/txn) | signoff/pgbouncer {s/b:.2f}x | machine µs/txn: direct $dmach, pgbouncer $bmach, signoff $smach')"
      if [ "$leg" = tcp ]; then
        read -r relay rcpu rmach <<<"$(tps $mode "$relay_dsn" "$relay_pid")"
        python3 -c "d,r,s=$direct,$relay,$signoff; print(f'    tokio byte relay (no parsing, no decisions, no audit): {r} tps ({r/d:.2f}x, $rcpu µs CPU/txn, machine $rmach µs/txn) | signoff/relay {s/r:.2f}x')"
      fi
    done
  done
  if [ "$legs" != tcp ]; then
    read -r dunix _ _ <<<"$(tps simple "$direct_unix_dsn")"
    echo "  for scale: pgbench straight to the Unix socket, -M simple: $dunix tps"
  fi
  kill $so_pid $relay_pid; wait $so_pid $relay_pid 2>/dev/null || true
  decided=$(sqlite3 "$dir/data/signoff.db" "SELECT (SELECT count(*) FROM audit WHERE kind = 'action.decided') + (SELECT COALESCE(SUM(json_extract(details, '\$.count')), 0) FROM audit WHERE kind = 'reads.batched')" 2>/dev/null || echo "?")
  rows=$(sqlite3 "$dir/data/signoff.db" "SELECT count(*) FROM audit" 2>/dev/null || echo "?")
  echo "  audit after the run: $decided statements decided, in $rows rows; $(target/release/signoff audit verify --data-dir "$dir/data")"
fi

if [ "$only" = pgab ]; then
  # Two builds (or settings) of signoff, side by side on the same data, for
  # changes smaller than this machine's drift between separate runs:
  # PGAB_A / PGAB_B name the binaries (default: the release build for both),
  # PGAB_A_ENV / PGAB_B_ENV extra environment ("TOKIO_WORKER_THREADS=1"),
  # PGAB_ROUNDS alternating rounds of DURATION seconds, PGAB_MODE simple|extended.
  pg_setup pgab
  a_bin=${PGAB_A:-target/release/signoff} b_bin=${PGAB_B:-target/release/signoff}
  mode=${PGAB_MODE:-simple} duration=${DURATION:-5}
  echo "== pgab: pgbench -S -M $mode, 8 clients, A=$a_bin ${PGAB_A_ENV:-} vs B=$b_bin ${PGAB_B_ENV:-}"
  dir_b=$(mktemp -d); chmod 755 "$dir_b"; cp -r "$dir/policies" "$dir_b/"
  b_port=$(free_port) b_unix_port=$(free_port) b_http=$(free_port)
  sed -e "s/127.0.0.1:$so_port\"/127.0.0.1:$b_port\"/" -e "s/127.0.0.1:$so_unix_port\"/127.0.0.1:$b_unix_port\"/" \
    "$dir/signoff.toml" >"$dir_b/signoff.toml"
  key_b=$("$b_bin" --config "$dir_b/signoff.toml" keys create --principal agent:bench)
  env SIGNOFF_LOG=warn ${PGAB_A_ENV:-} "$a_bin" --config "$dir/signoff.toml" serve --listen "127.0.0.1:$http_port" 2>"$dir/serve.log" &
  a_pid=$!
  env SIGNOFF_LOG=warn ${PGAB_B_ENV:-} "$b_bin" --config "$dir_b/signoff.toml" serve --listen "127.0.0.1:$b_http" 2>"$dir_b/serve.log" &
  b_pid=$!
  trap 'kill $a_pid $b_pid 2>/dev/null || true' EXIT
  for _ in $(seq 100); do grep -q Ctrl-C "$dir/serve.log" && grep -q Ctrl-C "$dir_b/serve.log" && break; sleep 0.1; done
  b_dsn="host=127.0.0.1 port=$b_port user=agent:bench dbname=$pg_db sslmode=disable"
  round() { # pid dsn key -> "tps cpu_us_per_statement"
    local before after out n
    before=$(cpu_ticks "$1")
    out=$(PGPASSWORD="$3" pgbench -n -S -c 8 -j 2 -T "$duration" -M "$mode" "$2" 2>/dev/null)
    after=$(cpu_ticks "$1")
    n=$(echo "$out" | awk '/actually processed/ {split($NF, a, "/"); print a[1]}')
    python3 -c "n = max(${n:-0}, 1); print(round(n / $duration), round(($after - $before) / $(getconf CLK_TCK) * 1e6 / n, 1))"
  }
  : >bench/out/pgab.txt
  for r in $(seq "${PGAB_ROUNDS:-6}"); do
    echo "$(round $a_pid "$signoff_dsn" "$key") $(round $b_pid "$b_dsn" "$key_b")" | tee -a bench/out/pgab.txt | \
      awk -v r="$r" '{printf "  round %d: A %d tps, %.1f µs/statement | B %d tps, %.1f µs/statement\n", r, $1, $2, $3, $4}'
  done
  kill $a_pid $b_pid; wait $a_pid $b_pid 2>/dev/null || true
  python3 - <<'PY'
rows = [list(map(float, l.split())) for l in open("bench/out/pgab.txt") if l.strip()]
avg = lambda i: sum(r[i] for r in rows) / len(rows)
fewer = sum(r[3] < r[1] for r in rows)
print(f"  mean: A {avg(0):.0f} tps, {avg(1):.1f} µs | B {avg(2):.0f} tps, {avg(3):.1f} µs | "
    f"B/A CPU {avg(3)/avg(1):.3f}x, tps {avg(2)/avg(0):.3f}x; B used less CPU in {fewer} of {len(rows)} rounds")
PY
  rm -rf "$dir_b"
fi

if [ "$only" = mcpab ]; then
  # Two builds (or settings) of signoff in front of one upstream, in
  # alternating 32-client rounds, each beside a direct round: MCPAB_A / MCPAB_B
  # name the binaries (default: the release build for both), MCPAB_A_ENV /
  # MCPAB_B_ENV extra environment, MCPAB_ROUNDS the rounds, MCP_BENCH_CALLS
  # the calls per client. MCPAB_B_TMPDIR puts B's config and audit there
  # (/dev/shm: the audit on tmpfs, to see what the disk's fsync costs).
  mcp_setup
  a_bin=${MCPAB_A:-target/release/signoff} b_bin=${MCPAB_B:-target/release/signoff}
  calls=${MCP_BENCH_CALLS:-200}
  echo "== mcpab: allowed tools/call, 32 clients x $calls calls, A=$a_bin ${MCPAB_A_ENV:-} vs B=$b_bin ${MCPAB_B_ENV:-}"
  dir_b=$(mktemp -d -p "${MCPAB_B_TMPDIR:-${TMPDIR:-/tmp}}"); cp -r "$dir/policies" "$dir/signoff.toml" "$dir_b/"
  token_b=$("$b_bin" --config "$dir_b/signoff.toml" keys create --principal agent:bench)
  b_port=$(free_port)
  env SIGNOFF_LOG=warn ${MCPAB_A_ENV:-} "$a_bin" --config "$dir/signoff.toml" serve --listen "127.0.0.1:$so_port" 2>"$dir/serve.log" &
  a_pid=$!
  env SIGNOFF_LOG=warn ${MCPAB_B_ENV:-} "$b_bin" --config "$dir_b/signoff.toml" serve --listen "127.0.0.1:$b_port" 2>"$dir_b/serve.log" &
  b_pid=$!
  trap 'kill $a_pid $b_pid $up_pid 2>/dev/null || true' EXIT
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$so_port/healthz" >/dev/null && curl -sf "http://127.0.0.1:$b_port/healthz" >/dev/null && break; sleep 0.1; done
  p99() { echo "$1" | sed -n 's/.*p99_us=\([0-9]*\).*/\1/p'; }
  round() { # pid url token -> "p99_us cpu_us_per_call"
    local before after out
    before=$(cpu_ticks "$1")
    out=$(MCP_BENCH_CLIENTS=32 MCP_BENCH_CALLS=$calls MCP_BENCH_URL="$2" MCP_BENCH_TOKEN="$3" "$bench_bin")
    after=$(cpu_ticks "$1")
    echo "$(p99 "$out") $(python3 -c "print(round(($after - $before) / $(getconf CLK_TCK) * 1e6 / (32 * $calls), 1))")"
  }
  : >bench/out/mcpab.txt
  for r in $(seq "${MCPAB_ROUNDS:-6}"); do
    d=$(p99 "$(MCP_BENCH_CLIENTS=32 MCP_BENCH_CALLS=$calls MCP_BENCH_URL="http://127.0.0.1:$up_port/mcp" "$bench_bin")")
    # The order alternates, so neither build always runs right after the direct round.
    if [ $((r % 2)) = 1 ]; then
      a=$(round $a_pid "http://127.0.0.1:$so_port/mcp/upstream" "$token"); b=$(round $b_pid "http://127.0.0.1:$b_port/mcp/upstream" "$token_b")
    else
      b=$(round $b_pid "http://127.0.0.1:$b_port/mcp/upstream" "$token_b"); a=$(round $a_pid "http://127.0.0.1:$so_port/mcp/upstream" "$token")
    fi
    echo "$d $a $b" | tee -a bench/out/mcpab.txt | \
      awk -v r="$r" '{printf "  round %d: direct p99 %.2f ms | A added p99 %+.2f ms, %.1f µs/call | B added p99 %+.2f ms, %.1f µs/call\n", r, $1/1000, ($2-$1)/1000, $3, ($4-$1)/1000, $5}'
  done
  kill $a_pid $b_pid $up_pid; wait $a_pid $b_pid $up_pid 2>/dev/null || true
  python3 - <<'PY'
import statistics
rows = [list(map(float, l.split())) for l in open("bench/out/mcpab.txt") if l.strip()]
med = lambda xs: statistics.median(xs)
a_add, b_add = med([r[1] - r[0] for r in rows]) / 1000, med([r[3] - r[0] for r in rows]) / 1000
a_cpu, b_cpu = med([r[2] for r in rows]), med([r[4] for r in rows])
fewer = sum(r[4] < r[2] for r in rows)
print(f"  median: A added p99 {a_add:+.2f} ms, {a_cpu:.1f} µs/call | B added p99 {b_add:+.2f} ms, {b_cpu:.1f} µs/call | "
      f"B/A CPU {b_cpu/a_cpu:.3f}x; B used less CPU in {fewer} of {len(rows)} rounds")
PY
  rm -rf "$dir_b"
fi

if [ "$only" = mcpcount ]; then
  # Instructions, not seconds, for the MCP door: signoff under callgrind, one
  # client's allowed tools/call in a session after a warm-up. MCPCOUNT_CALLS
  # sets the counted calls (default 400).
  command -v valgrind >/dev/null || { echo "install valgrind for the mcpcount section"; exit 1; }
  echo "== mcpcount: signoff's user-space instructions per allowed tools/call (callgrind; compare two commits with it)"
  mcp_setup
  calls=${MCPCOUNT_CALLS:-400}
  trap 'kill $up_pid 2>/dev/null || true' EXIT
  SIGNOFF_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$dir/cg.%p" \
    target/release/signoff --config "$dir/signoff.toml" serve --listen "127.0.0.1:$so_port" 2>"$dir/cg.log" &
  cg_pid=$!
  for _ in $(seq 600); do grep -q Ctrl-C "$dir/cg.log" && break; sleep 0.2; done
  url="http://127.0.0.1:$so_port/mcp/upstream"
  MCP_BENCH_CLIENTS=1 MCP_BENCH_CALLS=50 MCP_BENCH_URL="$url" MCP_BENCH_TOKEN="$token" "$bench_bin" >/dev/null
  sleep 2
  timeout 60 callgrind_control --zero $cg_pid >/dev/null 2>&1
  # Counted: the calls, their session's set-up and its end.
  MCP_BENCH_CLIENTS=1 MCP_BENCH_CALLS=$calls MCP_BENCH_URL="$url" MCP_BENCH_TOKEN="$token" "$bench_bin" >/dev/null
  sleep 3   # the last group commit
  timeout 60 callgrind_control --dump $cg_pid >/dev/null 2>&1
  sleep 1
  kill -INT $cg_pid 2>/dev/null; sleep 1; kill $cg_pid $up_pid 2>/dev/null; wait $cg_pid $up_pid 2>/dev/null || true
  file=$(ls -t "$dir"/cg.*.1 | head -1)
  cp "$file" bench/out/mcpcount.callgrind   # for callgrind_annotate
  read -r all nosha <<<"$(instructions_per "$file" "$calls")"
  echo "  signoff $all instructions per call, $nosha without software SHA-256"
fi

if want pgcount; then
  # Instructions, not seconds: callgrind counts the same for the same binary
  # and inputs however busy the machine is, so small changes show.
  command -v valgrind >/dev/null || { echo "install valgrind for the pgcount section"; exit 1; }
  echo "== pgcount: signoff's user-space instructions per pgbench -S statement (callgrind; compare two commits with it)"
  pg_setup pgcount
  per_client=${PGCOUNT_TXNS:-500}
  # Runs "$@" under callgrind until $3 succeeds, counts 4 x $per_client
  # transactions of mode $2 after a warm-up, prints instructions per
  # transaction (`instructions_per`).
  count() {
    local dsn=$1 mode=$2 ready=$3; shift 3
    rm -f "$dir"/cg.*
    valgrind --tool=callgrind --callgrind-out-file="$dir/cg.%p" "$@" 2>"$dir/cg.log" &
    local pid=$!
    for _ in $(seq 600); do eval "$ready" >/dev/null 2>&1 && break; sleep 0.2; done
    pgbench -n -S -c 1 -j 1 -t 50 -M "$mode" "$dsn" >/dev/null 2>&1
    sleep 2
    timeout 60 callgrind_control --zero $pid >/dev/null 2>&1
    pgbench -n -S -c 4 -j 1 -t "$per_client" -M "$mode" "$dsn" >/dev/null 2>&1
    sleep 3   # the last group commit
    timeout 60 callgrind_control --dump $pid >/dev/null 2>&1
    sleep 1
    kill -INT $pid 2>/dev/null; sleep 1; kill $pid 2>/dev/null; wait $pid 2>/dev/null || true
    local file; file=$(ls -t "$dir"/cg.*.1 | head -1)
    cp "$file" "bench/out/pgcount-$mode.callgrind"   # for callgrind_annotate
    instructions_per "$file" $((4 * per_client))
  }
  for mode in simple extended; do
    read -r signoff nosha <<<"$(PGPASSWORD="$key" SIGNOFF_LOG=warn count "$signoff_dsn" $mode "grep -q Ctrl-C $dir/cg.log" target/release/signoff --config "$dir/signoff.toml" serve --listen "127.0.0.1:$http_port")"
    echo "  -M $mode: signoff $signoff instructions per statement, $nosha without software SHA-256"
  done
fi

if want slack; then
  echo "== slack: signed-click acknowledgement vs /healthz; request -> Slack message (loopback fake Slack API)"
  cargo bench -q -p signoff-channels --bench interaction -- --warm-up-time 1 --measurement-time 3 >/dev/null 2>&1
  echo "  in process: verify + replay guard + parse $(median_us slack_ack_verify_replay_parse) µs; Teams card for a 112 KB payload $(median_us teams_card_112kb_payload) µs"
  cargo build -q --release -p signoff
  python3 bench/slack.py target/release/signoff
fi
