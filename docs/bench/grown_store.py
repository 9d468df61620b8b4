"""Issue 15's budgets on a store that has grown: ingest, single-event latency and decisions
of `helios dev`, measured at several numbers of stored events, with the bytes on disk.

    python3 docs/bench/grown_store.py --helios target/release/helios --events /tmp/events.jsonl \
        --sizes 0,200000,1000000 [--database-url postgres://...] [--out results.jsonl]

starts `helios dev` from the repository root (so `rules/` and `statemachines/` are found:
decisions on) on a fresh data folder (and, with `--database-url`, the PostgreSQL database it
names, which must be empty), then, for each size in turn:

1. grows the store to that many stored events, posting the workload in batches of 100 and
   waiting until `/healthz` reads an empty backlog (everything published and decided);
2. ingest: `--ingest-events` (20,000) in batches of 100, 4 clients, closed loop: events/s and
   the request p99; then waits for the backlog;
3. decisions: `--decide-events` (60,000) posted the same way; decisions/s is the events
   divided by the time from the first POST until the outbox and the `decide` queue read
   empty (every 50 ms; a message leaves the queue once its decision is stored); then waits
   for the `expect` queue too;
4. latency: single events at `--rate` (500) requests/s for `--seconds` (30), open loop, while
   the server decides them: p50/p99/max of the requests; then waits for the backlog;
5. bytes on disk, by part, divided by the stored events: what each event keeps (the store:
   `helios.db`, or with `--database-url` the database's `pg_database_size` read with `psql`;
   the raw archive) and in all (with the WAL files and the local queues' file, whose sizes
   do not grow with the stored events).

To compare builds on one grown store without growing it for each run, keep a run's folder
(`--data-dir`; its last line says how many events it holds) and start each run from a copy
of it: `--start-from FOLDER --stored N`.

Each step's own events count toward the next size. Every figure is one line of JSON on
stdout (and in `--out`); a table in the form of docs/benchmarks.md follows at the end.
Standard library only; `psql` for the PostgreSQL size.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
KEY = "hk_grown_admin_key_0123456789abcdef"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--helios", required=True)
    ap.add_argument("--events", required=True, help="JSON lines of native events (gen.py events)")
    ap.add_argument("--sizes", default="0,200000,1000000")
    ap.add_argument("--database-url")
    ap.add_argument("--port", type=int, default=18391)
    ap.add_argument("--data-dir", help="default: a fresh temporary folder, removed at the end")
    ap.add_argument("--ingest-events", type=int, default=20000)
    ap.add_argument("--decide-events", type=int, default=60000)
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--grow-chunk", type=int, default=100000, help="events posted per growing step")
    ap.add_argument("--start-from", metavar="FOLDER",
                    help="a data folder an earlier run kept (--data-dir), copied into the data folder "
                         "before the server starts: the steps run on a grown store without growing it "
                         "again (embedded store only; give --stored)")
    ap.add_argument("--stored", type=int, default=0,
                    help="with --start-from: the events its store holds (the last line of its run)")
    ap.add_argument("--out")
    a = ap.parse_args()
    helios = os.path.abspath(a.helios)
    sizes = [int(s) for s in a.sizes.split(",")]
    data = a.data_dir or tempfile.mkdtemp(prefix="helios-grown-")
    if a.start_from:
        if a.database_url:
            sys.exit("--start-from copies an embedded store's folder: not with --database-url")
        if not a.stored:
            sys.exit("--start-from needs --stored: how many events the copied store holds")
        shutil.rmtree(data, ignore_errors=True)
        shutil.copytree(a.start_from, data)
        sizes = [s for s in sizes if s > a.stored] or [a.stored]
    store = "postgresql" if a.database_url else "embedded"
    endpoint = f"http://127.0.0.1:{a.port}"
    env = dict(os.environ, HELIOS_API_KEY=KEY, RUST_LOG="warn")
    cmd = [helios, "dev", "--port", str(a.port), "--data-dir", data, "--rate-limit", "1000000"]
    if a.database_url:
        cmd += ["--database-url", a.database_url]
    log = open(os.path.join(tempfile.gettempdir(), f"helios-grown-{store}.log"), "w")
    server = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    out = open(a.out, "a") if a.out else None
    rows = []

    def emit(row):
        row = dict(row, store=store, loadavg=os.getloadavg()[0])
        rows.append(row)
        line = json.dumps(row)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    def health():
        return json.load(urllib.request.urlopen(f"{endpoint}/healthz", timeout=30))

    def backlog(queues):
        b = health()["backlog"]
        return b["outbox"] + sum(b["queues"][q]["visible"] + b["queues"][q]["in_flight"] for q in queues)

    def drained(limit=3600, every=0.05, queues=("decide", "expect")):
        """Seconds until the backlog of these queues (and the outbox) reads empty."""
        t0 = time.time()
        while backlog(queues) > 0:
            if time.time() - t0 > limit:
                sys.exit(f"the backlog did not empty in {limit} s: {health()['backlog']}")
            time.sleep(every)
        return time.time(), time.time() - t0

    def bench(*args):
        r = subprocess.run([helios, "bench", "ingest", "--events", a.events, "--endpoint", endpoint,
                            "--api-key", KEY, "--data-dir", data, *map(str, args)],
                           capture_output=True, text=True, cwd=ROOT)
        if r.returncode != 0:
            sys.exit(f"helios bench ingest failed: {r.stderr}")
        report = json.loads(r.stdout)
        bad = {s: n for s, n in report["statuses"].items() if s != "202"}
        if bad:
            sys.exit(f"requests not accepted: {bad}")
        return report

    def disk():
        """Bytes on disk by part: what each stored event keeps (the store's file or database,
        the raw archive) and what stays the same size however many are stored (the WAL files,
        bounded; the local queues' file, as large as the largest backlog it has held)."""
        parts = {"store": 0, "archive": 0, "wal": 0, "queues": 0, "executions": 0, "other": 0}
        for d, _, files in os.walk(data):
            for f in files:
                p = os.path.join(d, f)
                try:
                    size = os.lstat(p).st_blocks * 512
                except FileNotFoundError:
                    continue
                rel = os.path.relpath(p, data)
                part = ("archive" if rel.startswith("blobs") else
                        "executions" if rel.startswith("executions") else
                        "wal" if f.endswith(("-wal", "-shm")) else
                        "store" if f == "helios.db" else
                        "queues" if f == "local.db" else "other")
                parts[part] += size
        if a.database_url:
            parts["store"] += int(subprocess.run(
                ["psql", "-Atc", "SELECT pg_database_size(current_database())", a.database_url],
                capture_output=True, text=True, check=True).stdout.strip())
        return parts

    try:
        for _ in range(300):
            try:
                health()
                break
            except Exception:
                if server.poll() is not None:
                    sys.exit(f"helios dev exited: see {log.name}")
                time.sleep(0.2)
        stored = a.stored
        for size in sizes:
            while stored < size:
                n = min(a.grow_chunk, size - stored)
                t = time.time()
                r = bench("--batch", 100, "--concurrency", 4, "--requests", -(-n // 100))
                _, caught_up = drained()
                stored += r["requests"] * 100
                print(f"# grown to {stored} stored events ({r['events_accepted_per_s']:.0f} events/s, "
                      f"{caught_up:.1f} s to catch up, {time.time() - t:.0f} s)", file=sys.stderr, flush=True)
            at = stored
            parts = disk()
            kept = parts["store"] + parts["archive"]
            emit({"stored": at, "what": "disk", **{f"{k}_bytes": v for k, v in parts.items()},
                  "kept_bytes_per_event": round(kept / at) if at else None,
                  "bytes_per_event": round(sum(parts.values()) / at) if at else None})

            r = bench("--batch", 100, "--concurrency", 4, "--requests", a.ingest_events // 100)
            stored += a.ingest_events
            emit({"stored": at, "what": "ingest, batches of 100", "events_per_s": r["events_accepted_per_s"],
                  "request_p99_ms": round(r["latency_ms"]["p99"], 1)})
            drained()

            first = time.time()
            r = bench("--batch", 100, "--concurrency", 4, "--requests", a.decide_events // 100)
            stored += a.decide_events
            end, _ = drained(queues=("decide",))
            drained()
            emit({"stored": at, "what": "decisions, sustained", "events": a.decide_events,
                  "decisions_per_s": round(a.decide_events / (end - first)),
                  "posting_events_per_s": r["events_accepted_per_s"]})

            n = int(a.rate * a.seconds)
            r = bench("--batch", 1, "--rate", a.rate, "--requests", n)
            stored += n
            lat = r["latency_ms"]
            emit({"stored": at, "what": f"single events at {a.rate:.0f}/s, decisions on",
                  "p50_ms": round(lat["p50"], 1), "p99_ms": round(lat["p99"], 1), "max_ms": round(lat["max"], 1)})
            drained()
        print(f"# the store holds {stored} events", file=sys.stderr, flush=True)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        if not a.data_dir:
            shutil.rmtree(data, ignore_errors=True)

    print(f"\n| store | stored events | bytes on disk per event, kept / in all | events/s (batches of 100) | request p99 "
          f"| decisions/s | single-event p50 / p99 / max | load average |")
    print("|---|---|---|---|---|---|---|---|")
    for at in sizes:
        by = {r["what"].split(",")[0].split(" at")[0]: r for r in rows if r["stored"] == at}
        d, i, s = by.get("disk", {}), by.get("ingest", {}), by.get("decisions", {})
        l = next((r for r in rows if r["stored"] == at and r["what"].startswith("single")), {})
        print(f"| {store} | {at:,} | {d.get('kept_bytes_per_event') or '–'} / {d.get('bytes_per_event') or '–'} | {i.get('events_per_s', 0):,.0f} "
              f"| {i.get('request_p99_ms')} ms | {s.get('decisions_per_s', 0):,} "
              f"| {l.get('p50_ms')} / {l.get('p99_ms')} / {l.get('max_ms')} ms "
              f"| {min(r['loadavg'] for r in rows if r['stored'] == at):.1f}–{max(r['loadavg'] for r in rows if r['stored'] == at):.1f} |")


if __name__ == "__main__":
    main()
