#!/usr/bin/env bash
# Ingest with and without schema enforcement (issue 17), on the same machine, one fresh
# `helios dev` (release build, no rules, no workflows) per run, in the order given:
#
#   docs/bench/schemas_ab.sh EVENTS.jsonl SCHEMAS_DIR off on on off off on …
#
# `on` registers the schema files of SCHEMAS_DIR (`helios schemas apply`) before sending;
# `off` sends to a Helios without schemas. Each run sends every event of EVENTS.jsonl once in
# batches of 100 (`helios bench ingest --batch 100 --concurrency 4`) and prints the mode, the
# events accepted per second, the statuses and the load average. Make the schema files from
# the workload itself with
#
#   helios bench schemas --events EVENTS.jsonl --write SCHEMAS_DIR --policy enforce
#
# Compare the medians of `on` and `off` of one run of this script; alternate the order, as the
# machine's load drifts while it runs.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 EVENTS.jsonl SCHEMAS_DIR MODE..." >&2; exit 2; }
events=$1 schemas=$2
shift 2
H=${HELIOS_BIN:-target/release/helios}
PORT=${PORT:-8791}
KEY=hk_bench_0123456789abcdef0123456789ab
for mode in "$@"; do
  dir=$(mktemp -d)
  HELIOS_API_KEY=$KEY "$H" dev --port "$PORT" --data-dir "$dir/data" --rules /nonexistent \
    --statemachines /nonexistent > "$dir/dev.log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.2; done
  if [ "$mode" = on ]; then
    HELIOS_API_KEY=$KEY "$H" schemas apply "$schemas" --endpoint "http://127.0.0.1:$PORT" > /dev/null
  fi
  report=$(HELIOS_API_KEY=$KEY "$H" bench ingest --events "$events" --batch 100 \
    --endpoint "http://127.0.0.1:$PORT")
  echo "$mode $(echo "$report" | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['events_accepted_per_s'], d['statuses'])") load=$(cut -d' ' -f1 /proc/loadavg)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
done
