"""Every value type, logged and read back from the export."""

import math
import sys

import numpy as np
import pytest

import ringlog
from conftest import export_rows, user_keys


@pytest.fixture
def run(service_env):
    r = ringlog.init(project="values")
    yield r
    r.finish()


def logged(run, data):
    run.log(data)
    run.finish()
    rows = export_rows(run.id)
    assert len(rows) == 1, rows
    return user_keys(rows[0])


def test_scalars_and_nested_dicts(run):
    row = logged(
        run,
        {
            "f": 0.1,
            "neg": -2.5,
            "i": 7,
            "big": -(2**63),
            "t": True,
            "no": False,
            "s": "text",
            "skip": None,
            "train": {"loss": 0.25, "deep": {"x": 3}},
            "nan": math.nan,
            "inf": math.inf,
        },
    )
    assert row == {
        "f": 0.1,
        "neg": -2.5,
        "i": 7,
        "big": -(2**63),
        "t": True,
        "no": False,
        "s": "text",
        "train/loss": 0.25,
        "train/deep/x": 3,
        "nan": "NaN",
        "inf": "Infinity",
    }
    assert type(row["i"]) is int and type(row["t"]) is bool


def test_numpy_scalars_of_every_dtype(run):
    data = {}
    for dt in ["float16", "float32", "float64", "longdouble"]:
        data[dt] = np.array(1.5, dtype=dt)[()]
    for dt in ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]:
        data[dt] = np.array(42, dtype=dt)[()]
    data["bool_"] = np.bool_(True)
    data["str_"] = np.str_("s")
    row = logged(run, data)
    for dt in ["float16", "float32", "float64", "longdouble"]:
        assert row[dt] == 1.5, dt
    for dt in ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]:
        assert row[dt] == 42 and type(row[dt]) is int, dt
    assert row["bool_"] is True and row["str_"] == "s"


def test_arrays_lists_and_tensors(run):
    a = np.linspace(0, 1, 5, dtype=np.float32)
    data = {
        "f32": a,
        "f64": a.astype(np.float64),
        "i32": np.arange(4, dtype=np.int32),
        "u8": np.arange(3, dtype=np.uint8),
        "f16": np.array([0.5, -1.0], dtype=np.float16),
        "bools": np.array([True, False]),
        "matrix": np.arange(6, dtype=np.float64).reshape(2, 3),
        "strided": np.arange(10, dtype=np.float32)[::2],
        "bigendian": np.arange(3, dtype=">f8"),
        "list": [1, 2.5, True],
        "tuple": (0.5, 1.5),
        "np_list": [np.float32(1.0), np.float64(2.0)],
    }
    torch = None
    if "torch" in sys.modules or _can_import("torch"):
        import torch

        data["t0"] = torch.tensor(3.5)
        data["t1"] = torch.arange(3, dtype=torch.float32)
    row = logged(run, data)
    assert row["f32"] == pytest.approx(a.tolist())
    assert row["f64"] == pytest.approx(a.tolist())
    assert row["i32"] == [0, 1, 2, 3]
    assert row["u8"] == [0, 1, 2]
    assert row["f16"] == [0.5, -1.0]
    assert row["bools"] == [1.0, 0.0]
    assert row["matrix"] == [0, 1, 2, 3, 4, 5]
    assert row["strided"] == [0, 2, 4, 6, 8]
    assert row["bigendian"] == [0, 1, 2]
    assert row["list"] == [1.0, 2.5, 1.0]
    assert row["tuple"] == [0.5, 1.5]
    assert row["np_list"] == [1.0, 2.0]
    if torch is not None:
        assert row["t0"] == 3.5 and row["t1"] == [0, 1, 2]


def _can_import(name):
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_unicode_keys(run):
    row = logged(run, {"λ/損失": 0.5, "émoji 🚀": 1, "naïve": {"ключ": "значение"}})
    assert row == {"λ/損失": 0.5, "émoji 🚀": 1, "naïve/ключ": "значение"}


def test_big_ints_are_refused(run):
    with pytest.raises(OverflowError, match="'huge'"):
        run.log({"huge": 2**63})
    with pytest.raises(OverflowError, match="'u64'"):
        run.log({"u64": np.uint64(2**64 - 1)})
    run.log({"ok": 1})
    run.finish()
    assert [user_keys(r) for r in export_rows(run.id)] == [{"ok": 1}]


@pytest.mark.parametrize(
    "value,type_name",
    [(object(), "object"), (1 + 2j, "complex"), (b"bytes", "bytes"), ({1, 2}, "set"), (["a"], "list")],
)
def test_unsupported_values_raise_type_error_naming_key_and_type(run, value, type_name):
    with pytest.raises(TypeError, match=rf"'bad'.*{type_name}"):
        run.log({"good": 1.0, "bad": value})


def test_failed_log_writes_nothing_of_that_call(run):
    with pytest.raises(TypeError):
        run.log({"a": 1.0, "b": object()})
    run.log({"c": 2.0})
    run.finish()
    rows = [user_keys(r) for r in export_rows(run.id)]
    assert rows == [{"c": 2.0}]


def test_non_str_keys_and_non_dicts_are_refused(run):
    with pytest.raises(TypeError, match="keys must be str"):
        run.log({1: 0.5})
    with pytest.raises(TypeError, match="dict"):
        run.log([("a", 1.0)])


def test_many_distinct_key_objects(run):
    # Keys built per call are new str objects: the address cache must stay bounded and right.
    for i in range(6000):
        run.log({f"k{i % 50}": float(i)})
    run.finish()
    rows = export_rows(run.id)
    assert len(rows) == 6000
    assert rows[-1]["k49"] == 5999.0
