"""`ringlog export RUN --format parquet`, run as a user would, read with pyarrow and compared
value by value with `ringlog export RUN --format jsonl` of the same run."""

import json
import math
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ringlog
from conftest import TIMEOUT, export_rows


def cli(*args):
    out = subprocess.run(
        [sys.executable, "-m", "ringlog", *args],
        env=dict(os.environ),
        timeout=TIMEOUT,
        capture_output=True,
    )
    assert out.returncode == 0, out.stderr.decode()
    return out


@pytest.fixture
def run_id(service_env):
    """A finished run with every kind of value, on two steps series."""
    run = ringlog.init(project="parquet")
    for step in range(40):
        row = {"train/loss": 1.0 / (step + 1), "train/acc": step * 0.25}
        if step % 4 == 0:
            row.update(
                {
                    "epoch": step // 4 + 2**60,  # only integers: Int64, exact
                    "mixed": step if step % 8 == 0 else step + 0.5,  # ints and floats: Float64
                    "phase": f"warm \"up\" {step // 10}",  # only strings: the strings
                    "flag": step % 8 == 0,  # booleans: JSON text
                    "weights": [0.5, -1.5, float(step)],  # arrays: JSON text
                    "special": [math.nan, math.inf, -math.inf][step % 3],
                }
            )
        run.log(row, step=step)
    run.finish()
    return run.id


def jsonl_value_matches(column_type, cell, value, plain_strings):
    """Whether a Parquet cell holds the value the JSONL export shows."""
    if pa.types.is_floating(column_type):
        if isinstance(value, str):  # JSON has no NaN or infinity
            return {"NaN": math.isnan(cell), "Infinity": cell == math.inf, "-Infinity": cell == -math.inf}[value]
        return cell == value and not isinstance(value, bool)
    if pa.types.is_integer(column_type):
        return cell == value and type(value) is int
    assert pa.types.is_string(column_type), column_type
    return cell == value if plain_strings else json.loads(cell) == value


def check_same(table, rows, with_lane):
    fixed = ["_step", "_timestamp"] + (["_lane"] if with_lane else [])
    assert table.column_names[: len(fixed)] == fixed
    keys = table.column_names[len(fixed) :]
    assert keys == sorted(keys)
    assert table.schema.field("_step").type == pa.int64()
    assert table.schema.field("_timestamp").type == pa.float64()
    if with_lane:
        assert table.schema.field("_lane").type == pa.int32()
    # Every key of the JSONL export is a column, and every column a key.
    assert set(keys) == {k for r in rows for k in r if not k.startswith("_")}
    assert table.num_rows == len(rows)

    columns = table.to_pydict()
    for key in keys:
        ty = table.schema.field(key).type
        plain = all(isinstance(r[key], str) for r in rows if key in r)
        for i, row in enumerate(rows):
            cell = columns[key][i]
            if key not in row:
                assert cell is None, (i, key, cell)
            else:
                assert jsonl_value_matches(ty, cell, row[key], plain), (i, key, cell, row[key])
    for i, row in enumerate(rows):
        assert columns["_step"][i] == row["_step"]
        assert columns["_timestamp"][i] == row["_timestamp"]
        if with_lane:
            assert columns["_lane"][i] == row["_lane"]


def test_parquet_matches_jsonl(run_id, tmp_path):
    out = tmp_path / "out.parquet"
    cli("export", run_id, "--format", "parquet", "-o", str(out))
    table = pq.read_table(out)
    rows = export_rows(run_id)
    check_same(table, rows, with_lane=True)

    schema = table.schema
    assert schema.field("train/loss").type == pa.float64()
    assert schema.field("epoch").type == pa.int64()
    assert schema.field("mixed").type == pa.float64()
    assert schema.field("phase").type == pa.string()
    assert table.column("epoch").to_pylist()[0] == 2**60  # exact, no float rounding
    assert table.column("phase").to_pylist()[0] == 'warm "up" 0'
    special = [x for x in table.column("special").to_pylist() if x is not None]
    assert math.isnan(special[0]) and special[1:3] == [math.inf, -math.inf]
    # pandas-style reading works on the same file.
    assert table.column("train/loss").null_count == 0


def test_parquet_to_a_pipe(run_id, tmp_path):
    out = cli("export", run_id, "--format", "parquet")
    path = tmp_path / "piped.parquet"
    path.write_bytes(out.stdout)
    check_same(pq.read_table(path), export_rows(run_id), with_lane=True)


def test_downsampled_parquet_matches_jsonl(run_id, tmp_path):
    out = tmp_path / "every.parquet"
    cli("export", run_id, "--format", "parquet", "--every", "5", "--agg", "-o", str(out))
    table = pq.read_table(out)
    jsonl = cli("export", run_id, "--format", "jsonl", "--every", "5", "--agg").stdout.decode()
    rows = [json.loads(line) for line in jsonl.splitlines() if line.strip()]
    assert len(rows) == 8
    check_same(table, rows, with_lane=False)
    assert "train/loss/mean" in table.column_names
