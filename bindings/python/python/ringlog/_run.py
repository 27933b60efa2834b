"""``Run``, ``Summary`` and ``Config``: the wandb-shaped objects around the native run."""

import json
from typing import Any, Dict, Iterator, List, Mapping, Optional

from ._native import NativeRun


def _json_default(value: Any) -> Any:
    """JSON for config values json does not know (numpy scalars, paths, ...)."""
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except Exception:  # noqa: BLE001 - fall back to the text form
            pass
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    return str(value)


def config_dict(config: Any) -> Dict[str, Any]:
    """A config given to init (dict, argparse.Namespace, any mapping or object) as a dict."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    if hasattr(config, "__dict__"):
        return {k: v for k, v in vars(config).items() if not k.startswith("_")}
    raise TypeError(f"config must be a dict or an argparse.Namespace, got {type(config).__name__}")


def to_json(data: Mapping[str, Any]) -> str:
    """JSON text of a config mapping (non-JSON values by their item() or str())."""
    return json.dumps(dict(data), default=_json_default, allow_nan=True)


class Summary:
    """The run's summary: ``run.summary["best"] = x``, ``run.summary.update({...})``.

    Values set here are written to the run at once (last write wins). Reading
    returns what was set through this object; the service also keeps the last
    logged value of every key, in ``summary.json`` and the exports.
    """

    def __init__(self, run: "Run") -> None:
        object.__setattr__(self, "_run", run)
        object.__setattr__(self, "_values", {})

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def update(self, data: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> None:
        """Sets several summary values at once."""
        items = dict(data or {}, **kwargs)
        if items:
            self._run._summary(items)
            self._values.update(items)

    def get(self, key: str, default: Any = None) -> Any:
        """The value set for ``key``, or ``default``."""
        return self._values.get(key, default)

    def keys(self):  # noqa: ANN201 - a dict view
        """Keys set through this object."""
        return self._values.keys()

    def items(self):  # noqa: ANN201 - a dict view
        """Items set through this object."""
        return self._values.items()

    def __repr__(self) -> str:
        return f"Summary({self._values!r})"


class Config:
    """The run's config: ``run.config.lr``, ``run.config["lr"]``, ``run.config.update({...})``.

    Updates after init are written to the run as config records.
    """

    def __init__(self, run: "Run", initial: Dict[str, Any]) -> None:
        object.__setattr__(self, "_run", run)
        object.__setattr__(self, "_values", dict(initial))

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"config has no key {key!r}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def update(self, data: Any = None, allow_val_change: bool = True, **kwargs: Any) -> None:
        """Adds or changes config values (a dict or an argparse.Namespace)."""
        items = config_dict(data)
        items.update(kwargs)
        if items:
            self._run._config(to_json(items))
            self._values.update(items)

    def setdefaults(self, data: Mapping[str, Any]) -> None:
        """Sets the values of ``data`` whose keys are not set yet."""
        self.update({k: v for k, v in data.items() if k not in self._values})

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        return self._values.get(key, default)

    def keys(self):  # noqa: ANN201 - a dict view
        """Config keys."""
        return self._values.keys()

    def items(self):  # noqa: ANN201 - a dict view
        """Config items."""
        return self._values.items()

    def as_dict(self) -> Dict[str, Any]:
        """A copy as a plain dict."""
        return dict(self._values)

    def __repr__(self) -> str:
        return f"Config({self._values!r})"


class Run(NativeRun):
    """A run, as ``wandb.init`` returns one: ``log``, ``summary``, ``config``, ``finish``.

    ``log`` is native (see ``NativeRun.log``). Use as a context manager to
    finish the run when the block ends (exit code 1 if it raised).
    """

    # Set per instance by __init__ (NativeRun's __new__ has already started the run).
    name: str
    project: str
    tags: List[str]
    group: Optional[str]
    notes: Optional[str]
    job_type: Optional[str]
    summary: Summary
    config: Config

    def __init__(self, **kwargs: Any) -> None:
        meta = kwargs.pop("_meta", None) or {}
        self.project = kwargs.get("project") or meta.get("project") or "default"
        self.name = kwargs.get("name") or meta.get("name") or self.id
        self.tags = list(kwargs.get("tags") or ())
        self.group = meta.get("group")
        self.notes = meta.get("notes")
        self.job_type = meta.get("job_type")
        self.summary = Summary(self)
        self.config = Config(self, meta.get("config") or {})

    def __new__(cls, **kwargs: Any) -> "Run":
        kwargs.pop("_meta", None)
        return super().__new__(cls, **kwargs)

    def finish(self, exit_code: int = 0, quiet: Optional[bool] = None) -> Dict[str, Any]:  # type: ignore[override]
        """Finishes the run (or detaches, in a process that attached). Idempotent.

        Returns the service's report: state, exit code, records, bytes, drops,
        timeouts, invalid frames, abandoned lanes, runtime.
        """
        from . import _forget_run

        try:
            return super().finish(exit_code)
        finally:
            _forget_run(self)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.finish(exit_code=0 if exc_type is None else 1)

    def __reduce__(self):  # noqa: ANN204 - pickle protocol
        # A run sent to another process (multiprocessing spawn) attaches there.
        from . import attach

        return (attach, (self.id,))

    @property
    def path(self) -> str:
        """``project/id``, as wandb's ``run.path`` (without an entity)."""
        return f"{self.project}/{self.id}"

    def __repr__(self) -> str:
        return f"<ringlog.Run {self.id} project={self.project!r} dir={self.dir!r}>"
