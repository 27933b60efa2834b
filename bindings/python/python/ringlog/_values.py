"""Coercion of values the native checks do not know (torch tensors, odd arrays).

The extension converts floats, ints, bools, strings, dicts, lists of numbers
and anything with a numeric buffer (numpy arrays and scalars) itself. It calls
:func:`coerce` for everything else; the answer is converted once more, and
``NotImplemented`` makes it raise a TypeError naming the key and the type.
numpy and torch are never imported here: a value of theirs can only exist if
the program imported them already.
"""

import sys
from typing import Any


def coerce(value: Any) -> Any:
    """A value the extension can convert, or ``NotImplemented``."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach()
        if value.dim() == 0:
            return value.item()
        value = value.cpu().numpy()
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biuf":
                return NotImplemented
            # Non-contiguous or big-endian: one native-order float32 copy.
            return memoryview(np.ascontiguousarray(value, dtype=np.float32))
        if isinstance(value, np.generic):
            if isinstance(value, np.bool_):
                return bool(value)
            if isinstance(value, np.integer):
                return int(value)
            if isinstance(value, np.floating):
                return float(value)
            return NotImplemented
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, np.generic) for v in value):
            return memoryview(np.asarray(value, dtype=np.float32))
    return NotImplemented
