"""Several processes logging into one run: spawn, fork, forked workers, a killed child."""

import multiprocessing as mp
import os
import signal
import time

import pytest

import ringlog
from conftest import TIMEOUT, export_rows, run_json, run_script

STEPS = 500


def attach_and_log(run_id, rank, steps):
    """A worker that attaches explicitly (spawn, forkserver or fork)."""
    r = ringlog.attach(run_id)
    for i in range(steps):
        r.log({f"rank{rank}/x": float(i), "rank": rank})
    r.finish()


def log_through_inherited_run(run, rank, steps):
    """A DataLoader-style worker: logs through the parent's run object, no attach."""
    for i in range(steps):
        run.log({f"worker{rank}/y": float(i)})
    ringlog.log({f"worker{rank}/module": 1.0})


def log_forever(run_id, ready):
    r = ringlog.attach(run_id)
    for i in range(200):
        r.log({"victim/x": float(i)})
    r.flush(timeout=30)
    ready.set()
    i = 200
    while True:
        r.log({"victim/x": float(i)})
        i += 1


def count_keys(rows, prefix):
    return sum(1 for r in rows for k in r if k.startswith(prefix))


def join_all(procs):
    for p in procs:
        p.join(TIMEOUT)
        assert p.exitcode == 0, (p.name, p.exitcode)


@pytest.mark.parametrize("method", ["spawn", "fork", "forkserver"])
def test_four_processes_attach_exact_counts(service_env, method):
    ctx = mp.get_context(method)
    run = ringlog.init(project=f"mp-{method}")
    procs = [ctx.Process(target=attach_and_log, args=(run.id, rank, STEPS)) for rank in range(4)]
    for p in procs:
        p.start()
    for i in range(STEPS):
        run.log({"main/x": float(i)})
    join_all(procs)
    report = run.finish()
    assert report["state"] == "finished" and report["abandoned_lanes"] == 0, report
    rows = export_rows(run.id)
    assert count_keys(rows, "main/x") == STEPS
    for rank in range(4):
        assert count_keys(rows, f"rank{rank}/x") == STEPS
    assert len({r["_lane"] for r in rows}) == 5


def test_run_object_pickles_to_an_attach_under_spawn(service_env):
    ctx = mp.get_context("spawn")
    run = ringlog.init(project="pickle")
    p = ctx.Process(target=log_through_inherited_run, args=(run, 0, 100))
    p.start()
    join_all([p])
    run.finish()
    rows = export_rows(run.id)
    assert count_keys(rows, "worker0/y") == 100


def test_forked_workers_log_without_attaching(service_env):
    ctx = mp.get_context("fork")
    run = ringlog.init(project="dataloader")
    run.log({"parent/before": 1.0})
    procs = [ctx.Process(target=log_through_inherited_run, args=(run, w, STEPS)) for w in range(4)]
    for p in procs:
        p.start()
    join_all(procs)
    run.log({"parent/after": 1.0})
    report = run.finish()
    assert report["state"] == "finished" and report["abandoned_lanes"] == 0, report
    rows = export_rows(run.id)
    parent_lane = run_lane = [r["_lane"] for r in rows if "parent/before" in r][0]
    for w in range(4):
        mine = [r for r in rows if f"worker{w}/y" in r]
        assert len(mine) == STEPS
        assert count_keys(rows, f"worker{w}/module") == 1
        # Never in the parent's lane.
        assert {r["_lane"] for r in mine} != {parent_lane}
        assert parent_lane not in {r["_lane"] for r in mine}
    assert [r["_step"] for r in rows if r["_lane"] == run_lane] == [0, 1]


def test_plain_fork_children_exit_cleanly(service_env):
    # A fresh interpreter: children leave through sys.exit, so atexit runs in them.
    out = run_script(
        """
        import os, sys, ringlog
        run = ringlog.init(project="plainfork")
        pid = os.fork()
        if pid == 0:
            run.log({"child": 1.0})   # gets a lane of its own
            sys.exit(0)               # atexit detaches it
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        pid = os.fork()
        if pid == 0:
            sys.exit(0)               # logged nothing: must not finish the parent's run
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        run.log({"parent": 1.0})
        report = run.finish()
        print(run.id, report["state"], report["abandoned_lanes"])
        """
    )
    assert out.returncode == 0, out.stderr
    run_id, state, abandoned = out.stdout.split()
    assert (state, abandoned) == ("finished", "0")
    rows = export_rows(run_id)
    assert count_keys(rows, "child") == 1 and count_keys(rows, "parent") == 1


def test_sigkilled_child_loses_nothing_of_others(service_env):
    ctx = mp.get_context("spawn")
    run = ringlog.init(project="kill")
    ready = ctx.Event()
    victim = ctx.Process(target=log_forever, args=(run.id, ready))
    victim.start()
    others = [ctx.Process(target=attach_and_log, args=(run.id, rank, STEPS)) for rank in range(2)]
    for p in others:
        p.start()
    assert ready.wait(TIMEOUT)
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(TIMEOUT)
    join_all(others)
    for i in range(STEPS):
        run.log({"main/x": float(i)})
    report = run.finish()
    assert report["state"] == "finished", report
    rows = export_rows(run.id)
    assert count_keys(rows, "main/x") == STEPS
    for rank in range(2):
        assert count_keys(rows, f"rank{rank}/x") == STEPS
    assert count_keys(rows, "victim/x") >= 200
    assert run_json(run.dir)["abandoned_lanes"] >= 1


def test_gil_is_released_while_a_write_blocks(private_service, monkeypatch):
    """A thread blocked on a full lane (service stopped) lets other threads run."""
    import json
    import subprocess
    import sys
    import threading

    for k, v in private_service.items():
        monkeypatch.setenv(k, v)
    run = ringlog.init(project="gil", lane_bytes=4096)
    status = subprocess.run(
        [sys.executable, "-m", "ringlog", "status", "--json"], capture_output=True, text=True, timeout=TIMEOUT
    )
    service_pid = json.loads(status.stdout)["pid"]
    os.kill(service_pid, signal.SIGSTOP)
    errors = []
    done = threading.Event()

    def logger():
        try:
            for i in range(400):  # far more than a 4 KiB lane holds
                run.log({"a": float(i), "b": 1.0, "c": 2.0, "d": 3.0})
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        done.set()

    t = threading.Thread(target=logger)
    try:
        t.start()
        # If the blocked logger held the GIL, this thread could not run again
        # until the logger's 10 s bound failed it with LaneFullError.
        time.sleep(0.5)
        ran_while_blocked = not done.is_set()
        counter = sum(range(10000))
        assert counter and ran_while_blocked and t.is_alive() and not errors
    finally:
        os.kill(service_pid, signal.SIGCONT)
    t.join(TIMEOUT)
    assert not errors, errors
    run.finish()
    assert len(export_rows(run.id, env=private_service)) == 400


def test_fork_while_another_thread_holds_the_run_does_not_deadlock(private_service, monkeypatch):
    """A child forked while a thread of the parent is inside run.log (blocked on
    a full lane, holding the run's lock) can still log: the lock that thread held
    is released in the child, where the thread does not exist."""
    import json
    import subprocess
    import sys
    import threading

    for k, v in private_service.items():
        monkeypatch.setenv(k, v)
    run = ringlog.init(project="forklock", lane_bytes=4096)
    status = subprocess.run(
        [sys.executable, "-m", "ringlog", "status", "--json"], capture_output=True, text=True, timeout=TIMEOUT
    )
    service_pid = json.loads(status.stdout)["pid"]
    os.kill(service_pid, signal.SIGSTOP)

    def logger():
        for i in range(400):  # far more than a 4 KiB lane holds: blocks inside run.log
            run.log({"a": float(i)})

    t = threading.Thread(target=logger)
    go_r, go_w = os.pipe()
    try:
        t.start()
        time.sleep(0.5)  # the logger is now blocked, holding the run's lock
        assert t.is_alive()
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            os.read(go_r, 1)  # wait until the service runs again
            code = 1
            try:
                run.log({"child": 1.0})
                run.finish()
                code = 0
            finally:
                os._exit(code)
        os.close(go_r)
    finally:
        os.kill(service_pid, signal.SIGCONT)
    os.write(go_w, b"x")
    os.close(go_w)
    deadline = time.monotonic() + TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError("the forked child deadlocked on the run's lock")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0
    t.join(TIMEOUT)
    run.finish()
    rows = export_rows(run.id, env=private_service)
    assert sum(1 for r in rows if "child" in r) == 1
    assert sum(1 for r in rows if "a" in r) == 400
