#!/usr/bin/env bash
# What the analytics plane costs ingest (issue 18's budget: at most 5 %): the same release
# build with its metrics on and its spans exported over OTLP/HTTP to a receiver on loopback
# ("on"), and with `--no-metrics` and no OTLP endpoint ("off"), alternating (on first in odd
# rounds), a fresh data folder and a fresh `helios dev` per run (the starter rules and state
# machines, so decisions and workflows run beside ingest, each with its spans), each posting
# 40,000 events of EVENTS.jsonl in batches of 100 with 4 clients:
#
#   docs/bench/traces_ab.sh HELIOS_BIN EVENTS.jsonl [ROUNDS]
#
# Prints each run's events accepted per second, the spans the receiver took, and the load
# average. The receiver only reads and counts what it is sent (as a collector's OTLP
# receiver in front of a queue does); it runs on the same two cores.
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: $0 HELIOS_BIN EVENTS.jsonl [ROUNDS]" >&2; exit 2; }
bin=$1 events=$2 rounds=${3:-6}
root=$(cd "$(dirname "$0")/../.." && pwd)
KEY=hk_bench_0123456789abcdef0123456789ab
OTLP_PORT=8797
receiver() {
  exec python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.server.requests += 1
        self.send_response(200)
        self.send_header("content-type", self.headers.get("content-type", "application/x-protobuf"))
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
s.requests = 0
try:
    s.serve_forever()
finally:
    print(s.requests, flush=True)
' "$OTLP_PORT"
}
run() {
  local name=$1; shift
  local dir; dir=$(mktemp -d)
  local sink=""
  if [ "$name" = on ]; then
    receiver > "$dir/receiver.out" 2>&1 &
    sink=$!
    export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$OTLP_PORT
  else
    unset OTEL_EXPORTER_OTLP_ENDPOINT
  fi
  HELIOS_API_KEY=$KEY "$bin" dev --port 8796 --data-dir "$dir/data" --rules "$root/rules" --statemachines "$root/statemachines" "$@" > "$dir/dev.log" 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:8796/healthz" && break; sleep 0.2; done
  local r; r=$(HELIOS_API_KEY=$KEY "$bin" bench ingest --events "$events" --batch 100 --requests 400 --concurrency 4 --data-dir "$dir/data" --endpoint http://127.0.0.1:8796 | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['events_accepted_per_s'])")
  local spans=""
  if [ "$name" = on ]; then
    # Once every event is decided and the exporter's last batch is out: what became of the
    # spans (ended = exported + failed + dropped).
    for _ in $(seq 100); do
      curl -s "http://127.0.0.1:8796/healthz" | python3 -c "import json,sys; b=json.load(sys.stdin)['backlog']; sys.exit(0 if b.get('outbox',1)==0 and all(q.get('visible',1)+q.get('in_flight',1)==0 for q in b.get('queues',{}).values()) else 1)" 2>/dev/null && break
      sleep 0.3
    done
    sleep 6
    spans=$(curl -s -H "x-api-key: $KEY" http://127.0.0.1:8796/metrics | awk '/^helios_trace_spans_ended_total / {print "ended=" $2} /^helios_trace_spans_exported_total\{result="ok"\}/ {print "ok=" $2} /^helios_trace_spans_exported_total\{result="failed"\}/ {print "failed=" $2}' | tr '\n' ' ')
  fi
  echo "$name $r $spans load=$(cut -d' ' -f1 /proc/loadavg)"
  kill $pid; wait $pid 2>/dev/null
  [ -n "$sink" ] && { kill $sink; wait $sink 2>/dev/null; }
  rm -rf "$dir"
}
for i in $(seq "$rounds"); do
  if [ $((i % 2)) = 1 ]; then run on; run off --no-metrics; else run off --no-metrics; run on; fi
done
