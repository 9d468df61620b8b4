"""Resident memory of `helios dev` per waiting workflow execution.

    python3 docs/bench/waiting_executions.py target/release/helios N PARK

starts `helios dev` from the repository root on a fresh data folder (port 18377), posts N
`ci.build.finished` events on `main` with N commits (each opens a `main-push-built`
reconciliation: one execution waiting 15 minutes), waits until `/healthz` counts N running,
and prints the RSS before and after. PARK is `--park-waits-over`: `2` (the default) or
`never`. Standard library only.
"""
import json, os, subprocess, sys, time, urllib.request, tempfile, shutil
binary, n, park = os.path.abspath(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
data = tempfile.mkdtemp(prefix="helios-mem-")
port = 18377
key = "hk_mem_admin_key_0123456789abcdef"
env = dict(os.environ, HELIOS_API_KEY=key, RUST_LOG="error")
p = subprocess.Popen([binary, "dev", "--port", str(port), "--data-dir", data, "--park-waits-over", park,
                      "--max-executions", str(n * 2)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
def rss():
    for l in open(f"/proc/{p.pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1]) / 1024
def get(path):
    return json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}{path}"))
for _ in range(100):
    try: get("/healthz"); break
    except Exception: time.sleep(0.2)
time.sleep(2)
base = rss()
now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
t0 = time.time()
for b in range(0, n, 100):
    evs = [{"id": f"b-{i}", "source": "ci/buildkite", "type": "ci.build.finished", "time": now, "subject": "acme/web",
            "data": {"branch": "main", "state": "passed", "commit": f"c{i:08d}"}} for i in range(b, min(n, b + 100))]
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/events", data=json.dumps({"events": evs}).encode(),
                                 headers={"x-api-key": key, "content-type": "application/json"})
    urllib.request.urlopen(req).read()
while True:
    h = get("/healthz")["executions"]
    if h["running"] >= n or time.time() - t0 > 600: break
    time.sleep(1)
time.sleep(3)
h = get("/healthz")["executions"]
after = rss()
print(json.dumps({"executions": n, "park_waits_over": park, "running": h["running"], "parked": h["parked"],
                  "rss_base_mb": round(base, 1), "rss_after_mb": round(after, 1),
                  "kb_per_waiting_execution": round((after - base) * 1024 / n, 1),
                  "seconds_to_start_all": round(time.time() - t0, 1)}))
p.kill(); p.wait(); shutil.rmtree(data, ignore_errors=True)
