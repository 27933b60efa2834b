"""A script written for wandb runs unchanged but for `import ringlog as wandb`, with the same data.

wandb 0.31 runs it offline; its run file is read with wandb's own reader
(`wandb leet inspect --json`). ringlog's run is read with ringlog's exporter.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TIMEOUT, export_rows, run_json, summary_json

SCRIPT = '''
import argparse
import sys
IMPORT_LINE

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=3)
args = parser.parse_args([])

run = wandb.init(project="compat", config=args, dir=sys.argv[1], tags=["t1"], notes="a note"INIT_EXTRA)
assert wandb.run is run
for epoch in range(wandb.config.epochs):
    for batch in range(4):
        wandb.log({"train/loss": 1.0 / (1 + 4 * epoch + batch), "epoch": epoch, "phase": "train"})
    wandb.log({"val/acc": 0.5 + 0.125 * epoch, "lr": run.config.lr, "converged": epoch == 2})
run.summary["best_loss"] = 1.0 / 12
wandb.summary.update({"status": "done"})
print(run.id)
wandb.finish()
assert wandb.run is None
'''

WANDB_ONLY = ("_", "_wandb")
# wandb's own command, from the same environment (beside the interpreter) if there.
WANDB_BIN = next(
    (str(p) for p in [Path(sys.executable).parent / "wandb"] if p.exists()), shutil.which("wandb") or ""
)


def run_variant(tmp_path, import_line, env, init_extra=""):
    stem = f"train_{'ringlog' if 'ringlog' in import_line else 'wandb'}{'_live' if init_extra else ''}"
    path = tmp_path / f"{stem}.py"
    path.write_text(SCRIPT.replace("IMPORT_LINE", import_line).replace("INIT_EXTRA", init_extra))
    out_dir = tmp_path / path.stem
    out_dir.mkdir()
    out = subprocess.run(
        [sys.executable, str(path), str(out_dir)], env=env, capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1], out_dir


def wandb_records(run_dir):
    files = list(Path(run_dir).glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 1, files
    out = subprocess.run(
        [WANDB_BIN, "leet", "inspect", "--json", str(files[0])], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert out.returncode == 0 and "corrupt" not in out.stderr, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def user(d):
    return {k: v for k, v in d.items() if not k.startswith(WANDB_ONLY)}


@pytest.mark.skipif(not WANDB_BIN, reason="wandb is not installed")
def test_wandb_script_runs_unchanged_with_the_same_data(service_env, tmp_path):
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true")
    _, wandb_dir = run_variant(tmp_path, "import wandb", env)
    rl_id, rl_dir = run_variant(tmp_path, "import ringlog as wandb", env)
    rl_run_dir = rl_dir / rl_id  # init(dir=D) keeps the run in D/<run id>

    records = wandb_records(wandb_dir)
    wb_history = [(r["history"]["step"].get("num", 0), user(r["history"]["item"])) for r in records if r["type"] == "history"]
    wb_summary = {}
    for r in records:
        if r["type"] == "summary":
            wb_summary.update(user(r["summary"].get("update", {})))
    wb_config = user(next(r for r in records if r["type"] == "run")["run"]["config"]["update"])

    rl_rows = export_rows(str(rl_run_dir))
    rl_history = [(row["_step"], user(row)) for row in rl_rows]
    meta = run_json(rl_run_dir)
    rl_summary = user(summary_json(rl_run_dir))

    assert len(wb_history) == 15
    assert rl_history == wb_history
    assert rl_summary == wb_summary
    assert meta["config"] == wb_config == {"lr": 0.01, "epochs": 3}
    assert meta["tags"] == ["t1"]


@pytest.mark.skipif(not WANDB_BIN, reason="wandb is not installed")
def test_wandb_true_writes_a_live_wandb_run_that_wandb_reads_like_its_own(service_env, tmp_path):
    """`ringlog.init(..., wandb=True)`: the service writes the run's .wandb file as it drains; wandb's reader
    finds the same history, summary and config in it as in wandb's own offline run of the same script."""
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true")
    env.pop("RINGLOG_WANDB", None)
    _, wandb_dir = run_variant(tmp_path, "import wandb", env)
    rl_id, rl_dir = run_variant(tmp_path, "import ringlog as wandb", env, init_extra=", wandb=True")
    ours = wandb_records(rl_dir / rl_id)
    theirs = wandb_records(wandb_dir)

    def history(records):
        return [(r["history"]["step"].get("num", 0), user(r["history"]["item"])) for r in records if r["type"] == "history"]

    def summary(records):
        out = {}
        for r in records:
            if r["type"] == "summary":
                out.update(user(r["summary"].get("update", {})))
        return out

    assert len(history(ours)) == 15
    assert history(ours) == history(theirs)
    assert summary(ours) == summary(theirs)
    config = user(next(r for r in ours if r["type"] == "run")["run"]["config"]["update"])
    assert config == {"lr": 0.01, "epochs": 3}
    assert any(r["type"] == "exit" for r in ours), "a finished run ends with an exit record"

    # Without the option (and without RINGLOG_WANDB) there is no W&B file.
    plain = tmp_path / "plain"
    plain.mkdir()
    rl_id, rl_dir = run_variant(plain, "import ringlog as wandb", env)
    assert not list((rl_dir / rl_id).glob("wandb/offline-run-*"))
