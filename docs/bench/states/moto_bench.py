"""Runs a state machine definition in moto's Step Functions interpreter, for comparison with
`helios bench states` on the same definition and inputs (docs/benchmarks.md).

    python3 docs/bench/states/moto_bench.py --definition docs/bench/states/chain.asl.json \
        --inputs events.jsonl --executions 20
    python3 docs/bench/states/moto_bench.py --definition docs/bench/states/map.asl.json \
        --inputs events.jsonl --as-array --items 1000

Needs moto and boto3 (pip install 'moto[server]' boto3). Starts a moto server on a free
loopback port with its `execute_state_machine` setting on, and stops it at the end. Prints
JSON like `helios bench states`: transitions are the states entered, read from each
execution's history; the time of an execution runs from StartExecution until
DescribeExecution no longer says RUNNING (polled every 50 ms: faster polling takes the
server's time from the execution).
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import boto3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A moto server on a free loopback port, executing state machines."""

    def __enter__(self):
        port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        endpoint = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        req = urllib.request.Request(endpoint + "/moto-api/config", method="POST",
                                     data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()
        return boto3.client("stepfunctions", endpoint_url=endpoint, region_name="us-east-1",
                            aws_access_key_id="bench", aws_secret_access_key="bench")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--definition", required=True)
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--executions", type=int, default=20)
    ap.add_argument("--as-array", action="store_true")
    ap.add_argument("--items", type=int)
    a = ap.parse_args()
    definition = open(a.definition).read()
    lines = [l for l in open(a.inputs).read().splitlines() if l.strip()]
    if a.as_array:
        n = a.items or len(lines)
        inputs = ["[" + ",".join(lines[:n]) + "]"]
    else:
        inputs = [lines[i % len(lines)] for i in range(a.executions)]

    transitions = failed = 0
    secs = 0.0
    for i, inp in enumerate(inputs):
        # moto 5.2 fails every execution after the first one of a server (it deep-copies a
        # lock), so each execution gets a server of its own, started before its clock starts.
        with Server() as sfn:
            arn = sfn.create_state_machine(name="bench", definition=definition,
                                           roleArn="arn:aws:iam::123456789012:role/bench")["stateMachineArn"]
            started = time.perf_counter()
            ex = sfn.start_execution(stateMachineArn=arn, name=f"e{i}", input=inp)["executionArn"]
            while True:
                d = sfn.describe_execution(executionArn=ex)
                if d["status"] != "RUNNING":
                    break
                time.sleep(0.05)
            secs += time.perf_counter() - started
            failed += d["status"] != "SUCCEEDED"
            pages = sfn.get_paginator("get_execution_history").paginate(executionArn=ex)
            transitions += sum(1 for p in pages for e in p["events"] if e["type"].endswith("StateEntered"))
    print(json.dumps({
        "definition": a.definition, "executions": len(inputs), "failed": failed,
        "transitions": transitions, "seconds": secs,
        "transitions_per_s": round(transitions / secs), "mean_execution_ms": secs * 1000 / len(inputs),
    }, indent=2))


if __name__ == "__main__":
    main()
