#!/usr/bin/env python3
"""ringlog's Python `run.log` against wandb 0.31 offline, same workload, same run.

Usage:
    python benches/python/bench_log.py [--n N] [--wandb-n N] [--repeat R] [--json FILE] [--no-wandb]

Cases (each the median of R repeats, after a warm-up):
  run.log 4 floats       prebuilt dict, implicit step       (the binding's own cost)
  ringlog.log 4 floats   module-level, prebuilt dict
  run.log 8 floats       prebuilt dict
  run.log 4 floats, wandb-style   a new dict literal per call and step=i, exactly the
                         loop of /work/shared/tools/wandb_offline_bench.py
  run.log numpy[1000]    one float32 array of 1000 elements per call
  e2e 4 floats           init -> N logs -> finish (drained, written, fsynced by the service)
  wandb offline          the wandb-style loop, wandb 0.31 with WANDB_MODE=offline

The service is auto-started on a private socket in a temp dir; runs go to a temp dir.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time


def timed(fn, n):
    t0 = time.perf_counter()
    fn(n)
    return time.perf_counter() - t0


def median_rate(fn, n, repeat):
    fn(min(n, 10_000))  # warm-up: keys interned, caches hot
    secs = [timed(fn, n) for _ in range(repeat)]
    med = statistics.median(secs)
    return {"calls": n, "calls_per_s": n / med, "us_per_call": med / n * 1e6, "runs_s": secs}


def bench_ringlog(args, tmp):
    import numpy as np

    import ringlog

    results = {}
    run = ringlog.init(project="bench", dir=os.path.join(tmp, "runs"), lane_bytes=args.lane_bytes)
    d4 = {"loss": 0.25, "acc": 0.9, "lr": 3e-4, "grad_norm": 0.5}
    d8 = dict(d4, **{"val/loss": 0.3, "val/acc": 0.8, "tokens_per_s": 5e4, "step_ms": 12.5})
    arr = np.linspace(0.0, 1.0, 1000, dtype=np.float32)
    darr = {"weights": arr}

    def run_log_4(n):
        log = run.log
        for _ in range(n):
            log(d4)

    def module_log_4(n):
        for _ in range(n):
            ringlog.log(d4)

    def run_log_8(n):
        log = run.log
        for _ in range(n):
            log(d8)

    def run_log_wandb_style(n):
        base = run.step
        for i in range(n):
            run.log({"loss": 1.0 / (i + 1), "acc": i * 1e-5, "lr": 3e-4, "grad_norm": 0.5}, step=base + i)

    def run_log_array(n):
        log = run.log
        for _ in range(n):
            log(darr)

    results["run.log 4 floats"] = median_rate(run_log_4, args.n, args.repeat)
    results["ringlog.log 4 floats"] = median_rate(module_log_4, args.n, args.repeat)
    results["run.log 8 floats"] = median_rate(run_log_8, args.n, args.repeat)
    results["run.log 4 floats, wandb-style loop"] = median_rate(run_log_wandb_style, args.n, args.repeat)
    results["run.log numpy f32[1000]"] = median_rate(run_log_array, max(args.n // 20, 1000), args.repeat)
    report = run.finish()
    assert report["state"] == "finished" and report["drops"] == 0 and report["timeouts"] == 0, report

    # End to end: through the service to disk, the finish's drain and fsync inside the window.
    e2e = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        r = ringlog.init(project="bench-e2e", dir=os.path.join(tmp, "runs"), lane_bytes=args.lane_bytes)
        log = r.log
        for _ in range(args.n):
            log(d4)
        rep = r.finish()
        e2e.append(time.perf_counter() - t0)
        assert rep["state"] == "finished" and rep["records"] >= args.n, rep
    med = statistics.median(e2e)
    results["e2e 4 floats (init+log+finish, durable)"] = {
        "calls": args.n,
        "calls_per_s": args.n / med,
        "us_per_call": med / args.n * 1e6,
        "runs_s": e2e,
    }
    return results


def bench_wandb(args, tmp):
    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    import wandb

    run = wandb.init(project="bench", dir=tmp)

    def loop(n, base=[0]):
        for i in range(n):
            run.log({"loss": 1.0 / (i + 1), "acc": i * 1e-5, "lr": 3e-4, "grad_norm": 0.5}, step=base[0] + i)
        base[0] += n

    out = median_rate(loop, args.wandb_n, args.repeat)
    run.finish()
    return {f"wandb {wandb.__version__} offline, wandb-style loop": out}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000, help="calls per ringlog measurement")
    p.add_argument("--wandb-n", type=int, default=20_000, help="calls per wandb measurement")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--lane-bytes", type=int, default=None)
    p.add_argument("--json", help="write the results here")
    p.add_argument("--no-wandb", action="store_true")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="ringlog-bench-") as tmp:
        rt = os.path.join(tmp, "rt")
        os.mkdir(rt, 0o700)
        os.environ["RINGLOG_SOCKET"] = os.path.join(rt, "ringlog.sock")
        import ringlog

        results = {"python": sys.version.split()[0], "abi3": ringlog.ABI3, "cases": {}}
        results["cases"].update(bench_ringlog(args, tmp))
        if not args.no_wandb:
            results["cases"].update(bench_wandb(args, tmp))
        os.system(f"RINGLOG_SOCKET={os.environ['RINGLOG_SOCKET']} {sys.executable} -m ringlog shutdown >/dev/null 2>&1")

    cases = results["cases"]
    print(f"python {results['python']}, abi3={results['abi3']}")
    for name, r in cases.items():
        print(f"  {name:<45} {r['calls_per_s']:>12,.0f} calls/s {r['us_per_call']:>9.3f} us/call")
    wb = [v for k, v in cases.items() if k.startswith("wandb")]
    if wb:
        same = cases["run.log 4 floats, wandb-style loop"]["calls_per_s"] / wb[0]["calls_per_s"]
        own = cases["run.log 4 floats"]["calls_per_s"] / wb[0]["calls_per_s"]
        results["ratio_vs_wandb_same_loop"] = same
        results["ratio_vs_wandb_prebuilt_dict"] = own
        print(f"  ringlog / wandb, same loop: {same:,.0f}x   (prebuilt dict: {own:,.0f}x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
