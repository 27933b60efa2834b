"""ringlog: shared-memory logging for training runs, with wandb's API.

A one-line switch from wandb::

    import ringlog as wandb

    run = wandb.init(project="mnist", config={"lr": 1e-3})
    for step in range(1000):
        wandb.log({"loss": 1.0 / (step + 1)})
    wandb.summary["best"] = 0.01
    wandb.finish()

Records go into this process's lane of the run's shared-memory segment; a
service (started on first use, one per user) makes them durable in the run
directory. ``ringlog export RUN --format jsonl`` (or ``python -m ringlog``)
reads them back. Other processes of the run call ``ringlog.attach(run.id)``;
a forked child (a DataLoader worker) may simply log, and gets a lane of its own.
"""

import argparse
import atexit
import os
import secrets
import string
import sys
import threading
from typing import Any, Dict, List, Optional, Sequence, Union

from . import _service, _values
from ._native import (
    ABI3,
    Error,
    LaneFullError,
    NativeRun,
    RunFinishedError,
    ServiceUnavailableError,
    _set_coerce,
    _set_reattach_hook,
)
from ._native import (
    _after_fork_in_child as _native_after_fork_in_child,
)
from ._native import __version__ as __version__
from ._run import Config, Run, Summary, config_dict

__all__ = [
    "ABI3",
    "Config",
    "Error",
    "LaneFullError",
    "NativeRun",
    "Run",
    "RunFinishedError",
    "ServiceUnavailableError",
    "Summary",
    "attach",
    "config",
    "finish",
    "init",
    "log",
    "run",
    "summary",
]

#: The current run (set by :func:`init` and :func:`attach`, ``None`` after :func:`finish`).
run: Optional[Run] = None

_lock = threading.RLock()
# Runs this process must finish (owner) or detach at exit.
_live: List[Run] = []
# Exit code for runs finished at exit: 1 after an uncaught exception, or sys.exit's code.
_exit_code: Optional[int] = None
_RUN_ID_CHARS = string.ascii_lowercase + string.digits


def _preinit_log(data: Dict[str, Any], step: Optional[int] = None, commit: Optional[bool] = None) -> None:
    """Logs to the current run (``ringlog.log`` before init raises, as wandb does)."""
    current = run
    if current is None:
        raise Error("call ringlog.init() (or ringlog.attach()) before ringlog.log()")
    current.log(data, step, commit)


class _NoRun:
    """``ringlog.summary`` / ``ringlog.config`` before init: reads are empty, writes raise."""

    def __init__(self, what: str) -> None:
        object.__setattr__(self, "_what", what)

    def __getattr__(self, key: str) -> Any:
        raise Error(f"call ringlog.init() before using ringlog.{self._what}")

    def __setattr__(self, key: str, value: Any) -> None:
        raise Error(f"call ringlog.init() before using ringlog.{self._what}")

    __getitem__ = __getattr__
    __setitem__ = __setattr__

    def update(self, *args: Any, **kwargs: Any) -> None:
        raise Error(f"call ringlog.init() before using ringlog.{self._what}")


#: Logs to the current run; after init it *is* the run's bound ``log`` (no extra call layer).
log = _preinit_log
#: The current run's summary.
summary: Union[Summary, _NoRun] = _NoRun("summary")
#: The current run's config.
config: Union[Config, _NoRun] = _NoRun("config")


def _set_current(r: Optional[Run]) -> None:
    global run, log, summary, config
    run = r
    if r is None:
        log, summary, config = _preinit_log, _NoRun("summary"), _NoRun("config")
    else:
        log, summary, config = r.log, r.summary, r.config


def _forget_run(r: Run) -> None:
    with _lock:
        if r in _live:
            _live.remove(r)
        if run is r:
            _set_current(None)


def _new_run_id() -> str:
    return "".join(secrets.choice(_RUN_ID_CHARS) for _ in range(8))


def init(
    project: Optional[str] = None,
    name: Optional[str] = None,
    config: Union[Dict[str, Any], argparse.Namespace, None] = None,
    dir: Optional[Union[str, "os.PathLike[str]"]] = None,  # noqa: A002 - wandb's name
    tags: Optional[Sequence[str]] = None,
    group: Optional[str] = None,
    notes: Optional[str] = None,
    id: Optional[str] = None,  # noqa: A002 - wandb's name
    job_type: Optional[str] = None,
    lane_bytes: Optional[int] = None,
    wandb: Optional[bool] = None,
    **ignored: Any,
) -> Run:
    """Starts a run owned by this process and makes it current (``ringlog.run``).

    Arguments are wandb's: ``project``, ``name``, ``config`` (a dict or an
    argparse.Namespace), ``dir`` (runs go to ``<dir>/<run id>``; default
    ``RINGLOG_DIR`` or ``./ringlog``), ``tags``, ``group``, ``notes``, ``id``.
    ``wandb=True`` makes the run also a live W&B offline run: the service
    writes ``<run dir>/wandb/offline-run-*/`` as batches drain, for
    ``wandb leet`` and ``wandb sync`` (default: ``RINGLOG_WANDB=1``).
    wandb-only arguments (``entity``, ``mode``, ``reinit``, ``settings``...)
    are accepted and ignored. A current run is finished first.

    The service is started if none answers; the GIL is released meanwhile.

    Raises:
        ServiceUnavailableError: no service and none could be started.
        Error: the service refused the run.
    """
    cfg = config_dict(config)
    _service.ensure_service_bin()
    with _lock:
        if run is not None and run.is_owner and not run.finished:
            run.finish()
        run_id = id or _new_run_id()
        run_dir = os.path.join(os.path.abspath(os.fspath(dir)), run_id) if dir is not None else None
        from ._run import to_json

        r = Run(
            project=project or "default",
            name=name or "",
            tags=list(tags or ()),
            config_json=to_json(cfg),
            run_dir=run_dir,
            run_id=run_id,
            lane_bytes=lane_bytes,
            wandb=wandb,
            _meta={"project": project, "name": name, "group": group, "notes": notes, "job_type": job_type, "config": cfg},
        )
        _live.append(r)
        _set_current(r)
        return r


def attach(run_id: str) -> Run:
    """Joins run ``run_id`` from another process (a DDP rank, a worker) and makes it current.

    The process gets a lane of its own; its ``finish`` detaches (the run goes
    on until its owner finishes it). Not needed in a forked child, which may
    simply keep logging through the parent's ``run``.
    """
    _service.ensure_service_bin()
    with _lock:
        r = Run(attach_to=run_id)
        _live.append(r)
        _set_current(r)
        return r


def finish(exit_code: int = 0, quiet: Optional[bool] = None) -> Optional[Dict[str, Any]]:
    """Finishes the current run (see :meth:`Run.finish`); does nothing without one."""
    current = run
    if current is None:
        return None
    return current.finish(exit_code)


# --- exit and fork ---------------------------------------------------------------


def _at_exit() -> None:
    """Finishes what this process owns, detaches what it attached, and leaves
    runs inherited across fork alone."""
    code = _exit_code if _exit_code is not None else 0
    with _lock:
        runs = list(_live)
    for r in runs:
        try:
            if r.is_inherited or r.is_reattached:
                r._child_exit()
                _forget_run(r)
            else:
                r.finish(code)
        except Exception as e:  # noqa: BLE001 - never raise from atexit
            print(f"ringlog: finishing run {r.id} at exit failed: {e}", file=sys.stderr)


_previous_excepthook = sys.excepthook
_previous_exit = sys.exit


def _excepthook(exc_type: Any, exc: Any, tb: Any) -> None:
    global _exit_code
    if not (isinstance(exc, SystemExit)):
        _exit_code = 1
    _previous_excepthook(exc_type, exc, tb)


def _exit(status: Any = None) -> None:
    """``sys.exit`` that remembers the code for runs finished at exit (as wandb does)."""
    global _exit_code
    if status is None:
        _exit_code = 0
    elif isinstance(status, int):
        _exit_code = status
    else:
        _exit_code = 1
    _previous_exit(status)


def _after_fork_in_child() -> None:
    # The locks may have been held by another thread at fork time; that
    # thread does not exist in the child. The native run locks too.
    global _lock
    _lock = threading.RLock()
    _native_after_fork_in_child()


def _after_reattach() -> None:
    """A forked child just got a lane of its own: detach it when the child ends.

    atexit covers a plain fork that exits normally; a multiprocessing child
    ends with os._exit after running multiprocessing's finalizers, so register
    one there too (it runs before the process's final exit).
    """
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        mp_util.Finalize(None, _at_exit, exitpriority=100)


sys.excepthook = _excepthook
sys.exit = _exit
atexit.register(_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
_set_coerce(_values.coerce)
_set_reattach_hook(_after_reattach)
