"""How auto-start finds the service: through this package, never through PATH.

The wheel bundles no separate binary (docs/decisions.md, ADR P1): the service
is the extension itself, run by the ``ringlog`` console script that pip puts
in the environment's ``bin/`` beside the interpreter. Before the first init or
attach, the package points ``RINGLOG_BIN`` (the client's first choice) at that
script, unless the user set it. This works with the venv not activated
(``venv/bin/python train.py``): the script is found from ``sys.executable``.
Child processes inherit the variable, so they reach the same service.
"""

import os
import sys
import sysconfig
from typing import Optional


def _candidates():
    # The interpreter's own bin/ (a venv, even when not activated), then the
    # scheme's scripts directories (a user install puts scripts elsewhere).
    yield os.path.join(os.path.dirname(sys.executable), "ringlog")
    for scheme in (None, "posix_user"):
        try:
            path = sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
        except KeyError:
            continue
        if path:
            yield os.path.join(path, "ringlog")


def _is_ours(path: str) -> bool:
    """A console script generated for this package (not another ``ringlog`` binary)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError:
        return False
    return head.startswith(b"#!") and b"ringlog.__main__" in head


def service_command() -> Optional[str]:
    """The console script that runs this package's service, if installed."""
    for path in _candidates():
        if os.access(path, os.X_OK) and _is_ours(path):
            return path
    return None


def ensure_service_bin() -> None:
    """Sets ``RINGLOG_BIN`` for auto-start, unless the user chose one."""
    if os.environ.get("RINGLOG_BIN"):
        return
    path = service_command()
    if path is not None:
        os.environ["RINGLOG_BIN"] = path
