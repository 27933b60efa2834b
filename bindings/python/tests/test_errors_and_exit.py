"""Errors (bad values are in test_values.py), finishing at exit, exit codes."""

import os

import pytest

import ringlog
from conftest import export_rows, run_json, run_script, summary_json, user_keys


def test_unreachable_service_with_autostart_off(tmp_path, monkeypatch):
    rt = tmp_path / "rt"
    rt.mkdir(mode=0o700)
    monkeypatch.setenv("RINGLOG_SOCKET", str(rt / "nobody.sock"))
    monkeypatch.setenv("RINGLOG_AUTOSTART", "0")
    with pytest.raises(ringlog.ServiceUnavailableError, match="RINGLOG_AUTOSTART=0"):
        ringlog.init(project="nothing")
    with pytest.raises(ringlog.ServiceUnavailableError):
        ringlog.attach("abcdefgh")
    assert issubclass(ringlog.ServiceUnavailableError, ringlog.Error)
    assert issubclass(ringlog.Error, RuntimeError)


def test_attach_to_unknown_run(service_env):
    with pytest.raises(ringlog.Error, match="nosuchrun"):
        ringlog.attach("nosuchrun")


def test_double_finish_is_idempotent(service_env):
    run = ringlog.init(project="errors")
    run.log({"x": 1.0})
    first = run.finish(exit_code=3)
    assert first["state"] == "finished" and first["exit_code"] == 3
    assert run.finish() == first
    assert ringlog.finish() is None  # no current run any more
    assert run_json(run.dir)["exit_code"] == 3


def test_use_after_finish(service_env):
    run = ringlog.init(project="errors")
    run.finish()
    with pytest.raises(ringlog.RunFinishedError, match=run.id):
        run.log({"x": 1.0})
    with pytest.raises(ringlog.RunFinishedError):
        run.summary["best"] = 1.0
    with pytest.raises(ringlog.Error, match="init"):
        ringlog.log({"x": 1.0})
    with pytest.raises(ringlog.Error, match="init"):
        ringlog.summary["x"] = 1


def test_context_manager_records_the_exception(service_env):
    with pytest.raises(ValueError):
        with ringlog.init(project="ctx") as run:
            run.log({"x": 1.0})
            raise ValueError("boom")
    assert run.finished and run_json(run.dir)["exit_code"] == 1
    with ringlog.init(project="ctx") as run2:
        run2.log({"x": 1.0})
    assert run_json(run2.dir)["exit_code"] == 0


def test_summary_and_config(service_env):
    import argparse

    ns = argparse.Namespace(lr=0.001, batch_size=64, arch="resnet")
    run = ringlog.init(project="sc", name="my-run", config=ns, tags=["a", "b"], notes="n", group="g")
    assert (run.config.lr, run.config["batch_size"], run.config.arch) == (0.001, 64, "resnet")
    assert (run.name, run.project, run.tags, run.notes, run.group) == ("my-run", "sc", ["a", "b"], "n", "g")
    run.config.update({"epochs": 10, "opt": {"name": "adam", "betas": [0.9, 0.99]}})
    run.config.dropout = 0.1
    assert run.config.epochs == 10 and run.config.dropout == 0.1 and "opt" in run.config
    run.log({"loss": 0.5})
    run.log({"loss": 0.25})
    run.summary["best"] = 0.25
    run.summary.update({"final": {"acc": 0.9}, "epochs_run": 10})
    assert run.summary["best"] == 0.25
    ringlog.summary["via_module"] = True
    run.finish()
    s = summary_json(run.dir)
    assert s["best"] == 0.25 and s["final/acc"] == 0.9 and s["epochs_run"] == 10 and s["via_module"] is True
    assert s["loss"] == 0.25  # the last logged value
    meta = run_json(run.dir)
    assert meta["config"] == {"lr": 0.001, "batch_size": 64, "arch": "resnet"}
    assert meta["name"] == "my-run" and meta["tags"] == ["a", "b"]
    assert s["_ringlog"]["counts"]["config_updates"] == 3  # init's, update, attribute set


SCRIPT_NO_FINISH = """
import ringlog
run = ringlog.init(project="atexit")
print(run.id, run.dir, flush=True)
for i in range(10):
    ringlog.log({"x": float(i)})
ringlog.log({"pending": 1.0}, commit=False)
{tail}
"""


@pytest.mark.parametrize(
    "tail,exit_status,recorded",
    [
        ("", 0, 0),
        ("raise RuntimeError('uncaught')", 1, 1),
        ("import sys; sys.exit(7)", 7, 7),
    ],
)
def test_atexit_finishes_with_the_exit_code(service_env, tail, exit_status, recorded):
    out = run_script(SCRIPT_NO_FINISH.replace("{tail}", tail))
    assert out.returncode == exit_status, out.stderr
    run_id, run_dir = out.stdout.split()
    meta = run_json(run_dir)
    assert meta["state"] == "finished" and meta["exit_code"] == recorded, meta
    rows = export_rows(run_id)
    assert len(rows) == 11 and user_keys(rows[-1]) == {"pending": 1.0}
