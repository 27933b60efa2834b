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

run = wandb.init(project="compat", config=args, dir=sys.argv[1], tags=["t1"], notes="a note")
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


def run_variant(tmp_path, import_line, env):
    path = tmp_path / f"train_{'ringlog' if 'ringlog' in import_line else 'wandb'}.py"
    path.write_text(SCRIPT.replace("IMPORT_LINE", import_line))
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
