"""Type stubs of the extension module ``ringlog._native``."""

from typing import Any, Callable, Dict, List, Mapping, Optional

ABI3: bool
__version__: str

class Error(RuntimeError):
    """Base class of ringlog's errors."""

class ServiceUnavailableError(Error):
    """No service answered and none could be started (or RINGLOG_AUTOSTART=0)."""

class RunFinishedError(Error):
    """The run was finished."""

class LaneFullError(Error):
    """The lane stayed full past the run's bound."""

class NativeRun:
    """Native part of ``ringlog.Run``: one process's handle on a run."""

    def __new__(
        cls,
        *,
        attach_to: Optional[str] = ...,
        project: Optional[str] = ...,
        name: Optional[str] = ...,
        tags: Optional[List[str]] = ...,
        config_json: Optional[str] = ...,
        run_dir: Optional[str] = ...,
        run_id: Optional[str] = ...,
        lane_bytes: Optional[int] = ...,
        wandb: Optional[bool] = ...,
    ) -> "NativeRun": ...
    def log(self, data: Mapping[str, Any], step: Optional[int] = None, commit: Optional[bool] = None) -> None:
        """Logs a dict of values with wandb's step semantics."""
    def finish(self, exit_code: int = 0) -> Dict[str, Any]:
        """Finishes (owner) or detaches (other processes); idempotent."""
    def flush(self, timeout: float = 10.0) -> bool:
        """Waits until the service took everything this process logged."""
    def _summary(self, data: Mapping[str, Any]) -> None: ...
    def _config(self, json_object: str) -> None: ...
    def _child_exit(self) -> None: ...
    @property
    def id(self) -> str: ...
    @property
    def dir(self) -> str: ...
    @property
    def step(self) -> int: ...
    @property
    def lane(self) -> Optional[int]: ...
    @property
    def is_owner(self) -> bool: ...
    @property
    def finished(self) -> bool: ...
    @property
    def is_inherited(self) -> bool: ...
    @property
    def is_reattached(self) -> bool: ...

def cli_main(argv: List[str]) -> int:
    """Runs the ringlog command line (program name first); returns the exit status."""

def _set_coerce(hook: Callable[[Any], Any]) -> None: ...
def _set_reattach_hook(hook: Callable[[], None]) -> None: ...
def _after_fork_in_child() -> None: ...
