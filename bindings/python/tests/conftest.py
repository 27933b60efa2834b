"""Shared fixtures: a private service (auto-started) and the real exporter.

Every test process talks to a service on a socket in a temp dir (mode 0700)
and keeps runs in a temp dir; nothing is mocked. Results are read back with
``python -m ringlog export RUN --format jsonl`` and the run's JSON files.
Every subprocess wait is bounded.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

TIMEOUT = 120


def _shutdown(env):
    subprocess.run(
        [sys.executable, "-m", "ringlog", "shutdown"],
        env=env,
        timeout=TIMEOUT,
        capture_output=True,
    )


@pytest.fixture(scope="session")
def service_env():
    """RINGLOG_SOCKET, RINGLOG_DIR and XDG_STATE_HOME (the run list) for this session, set in os.environ too."""
    tmp = tempfile.mkdtemp(prefix="ringlog-pytest-")
    rt = Path(tmp, "rt")
    rt.mkdir(mode=0o700)
    runs = Path(tmp, "runs")
    env = {"RINGLOG_SOCKET": str(rt / "ringlog.sock"), "RINGLOG_DIR": str(runs), "XDG_STATE_HOME": str(Path(tmp, "state"))}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    os.environ.pop("RINGLOG_AUTOSTART", None)
    yield env
    _shutdown(dict(os.environ))
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def private_service(tmp_path):
    """A service of its own (for tests that stop or kill it), as an env dict."""
    rt = tmp_path / "rt"
    rt.mkdir(mode=0o700)
    env = dict(os.environ)
    env.update(
        {
            "RINGLOG_SOCKET": str(rt / "ringlog.sock"),
            "RINGLOG_DIR": str(tmp_path / "runs"),
            "XDG_STATE_HOME": str(tmp_path / "state"),
        }
    )
    yield env
    _shutdown(env)


def export_rows(run_id, env=None):
    """History rows of a run, through the real exporter."""
    out = subprocess.run(
        [sys.executable, "-m", "ringlog", "export", run_id, "--format", "jsonl"],
        env=env or dict(os.environ),
        timeout=TIMEOUT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def run_json(run_dir):
    return json.loads(Path(run_dir, "run.json").read_text())


def summary_json(run_dir):
    return json.loads(Path(run_dir, "summary.json").read_text())


def user_keys(row):
    return {k: v for k, v in row.items() if not k.startswith("_")}


def run_script(code, env=None, timeout=TIMEOUT, cwd=None):
    """Runs `code` in a fresh interpreter; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env or dict(os.environ),
        timeout=timeout,
        capture_output=True,
        text=True,
        cwd=cwd,
    )
