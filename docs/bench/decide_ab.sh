#!/usr/bin/env bash
# Decisions on a fresh embedded store, two builds (or two settings) alternating, one fresh
# `helios dev` (release build, the starter rules and state machines) per run:
#
#   docs/bench/decide_ab.sh EVENTS.jsonl A_BIN B_BIN [ROUNDS]
#
# Each run posts 60,000 events of EVENTS.jsonl in batches of 100 with 4 clients and waits
# until each has a stored decision (`helios bench ingest --requests 600 --concurrency 4
# --decided`), and prints the build, the events accepted per second while deciding, the
# decisions per second from the first POST, and the load average. A and B alternate, A
# first in odd rounds and B first in even ones, as the machine's load drifts. Extra
# arguments for `helios dev` go in DEV_ARGS_A and DEV_ARGS_B; BENCH_ARGS replaces the bench's
# `--requests 600 --concurrency 4 --decided` (ingest alone, say: `--requests 400
# --concurrency 4`). BENCH_BIN names one `helios` whose `bench ingest` measures both builds
# (by default each build measures itself).
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 EVENTS.jsonl A_BIN B_BIN [ROUNDS]" >&2; exit 2; }
events=$1 a=$2 b=$3 rounds=${4:-3}
PORT=${PORT:-8792}
KEY=hk_bench_0123456789abcdef0123456789ab
root=$(cd "$(dirname "$0")/../.." && pwd)
run() {
  local name=$1 bin=$2 extra=$3
  local dir
  dir=$(mktemp -d)
  # shellcheck disable=SC2086
  HELIOS_API_KEY=$KEY "$bin" dev --port "$PORT" --data-dir "$dir/data" --rules "$root/rules" \
    --statemachines "$root/statemachines" $extra > "$dir/dev.log" 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.2; done
  local report
  # shellcheck disable=SC2086
  report=$(HELIOS_API_KEY=$KEY "${BENCH_BIN:-$bin}" bench ingest --events "$events" --batch 100 \
    ${BENCH_ARGS:---requests 600 --concurrency 4 --decided} --data-dir "$dir/data" \
    --endpoint "http://127.0.0.1:$PORT")
  echo "$name $(echo "$report" | python3 -c "import json,sys; d=json.load(sys.stdin); print('accepted/s', d['events_accepted_per_s'], 'decisions/s', (d.get('decided') or {}).get('decisions_per_s'))") load=$(cut -d' ' -f1 /proc/loadavg)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then
    run A "$a" "${DEV_ARGS_A:-}"; run B "$b" "${DEV_ARGS_B:-}"
  else
    run B "$b" "${DEV_ARGS_B:-}"; run A "$a" "${DEV_ARGS_A:-}"
  fi
done
