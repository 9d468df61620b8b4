#!/usr/bin/env bash
# What `helios dev`'s metrics cost ingest: the same release build with its metrics on and
# with `--no-metrics`, alternating (on first in odd rounds), a fresh data folder and a fresh
# `helios dev` per run (the starter rules and state machines, so decisions run beside ingest),
# each posting 40,000 events of EVENTS.jsonl in batches of 100 with 4 clients:
#
#   docs/bench/metrics_ab.sh HELIOS_BIN EVENTS.jsonl [ROUNDS]
#
# Prints each run's events accepted per second and the load average.
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: $0 HELIOS_BIN EVENTS.jsonl [ROUNDS]" >&2; exit 2; }
bin=$1 events=$2 rounds=${3:-6}
root=$(cd "$(dirname "$0")/../.." && pwd)
KEY=hk_bench_0123456789abcdef0123456789ab
run() {
  local name=$1; shift
  local dir; dir=$(mktemp -d)
  HELIOS_API_KEY=$KEY "$bin" dev --port 8796 --data-dir "$dir/data" --rules "$root/rules" --statemachines "$root/statemachines" "$@" > "$dir/dev.log" 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:8796/healthz" && break; sleep 0.2; done
  local r; r=$(HELIOS_API_KEY=$KEY "$bin" bench ingest --events "$events" --batch 100 --requests 400 --concurrency 4 --data-dir "$dir/data" --endpoint http://127.0.0.1:8796 | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['events_accepted_per_s'])")
  echo "$name $r load=$(cut -d' ' -f1 /proc/loadavg)"
  kill $pid; wait $pid 2>/dev/null; rm -rf "$dir"
}
for i in $(seq "$rounds"); do
  if [ $((i % 2)) = 1 ]; then run on; run off --no-metrics; else run off --no-metrics; run on; fi
done
