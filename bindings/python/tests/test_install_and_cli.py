"""The installed package: console script, auto-start without PATH or RINGLOG_BIN, python -m ringlog."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import TIMEOUT, export_rows, run_script


def test_console_script_is_beside_the_interpreter():
    script = Path(sys.executable).parent / "ringlog"
    assert script.is_file() and os.access(script, os.X_OK)
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0 and "serve" in out.stdout and "export" in out.stdout


def test_autostart_without_path_or_ringlog_bin(tmp_path):
    rt = tmp_path / "rt"
    rt.mkdir(mode=0o700)
    env = {
        "PATH": "/usr/bin:/bin",  # the venv's bin/ is not on PATH
        "HOME": str(tmp_path),  # no ~/.cargo/bin/ringlog either
        "RINGLOG_SOCKET": str(rt / "s.sock"),
        "RINGLOG_DIR": str(tmp_path / "runs"),
    }
    code = """
        import ringlog, os
        assert "RINGLOG_BIN" not in os.environ or os.environ["RINGLOG_BIN"]
        with ringlog.init(project="fresh") as run:
            run.log({"x": 1.0})
        print(run.id)
    """
    out = run_script(code, env=env, cwd=tmp_path)
    try:
        assert out.returncode == 0, out.stderr
        run_id = out.stdout.strip()
        assert len(export_rows(run_id, env=dict(os.environ, **env))) == 1
    finally:
        subprocess.run([sys.executable, "-m", "ringlog", "shutdown"], env=env, timeout=TIMEOUT, capture_output=True)


def test_python_m_ringlog_mirrors_the_cli(service_env):
    import ringlog

    with ringlog.init(project="cli", name="listed") as run:
        run.log({"x": 1.0})
    runs = subprocess.run(
        [sys.executable, "-m", "ringlog", "runs", "--json"], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert runs.returncode == 0, runs.stderr
    assert run.id in {r["run_id"] for r in json.loads(runs.stdout)}
    tail = subprocess.run(
        [sys.executable, "-m", "ringlog", "tail", run.id, "-n", "1"], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert tail.returncode == 0 and json.loads(tail.stdout)["x"] == 1.0
    status = subprocess.run(
        [sys.executable, "-m", "ringlog", "status", "--json"], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert status.returncode == 0 and "pid" in json.loads(status.stdout)
    bad = subprocess.run([sys.executable, "-m", "ringlog", "export", "no-such-run"], capture_output=True, timeout=TIMEOUT)
    assert bad.returncode != 0
