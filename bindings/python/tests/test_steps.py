"""wandb's step semantics, case by case, checked from the export."""

import warnings

import pytest

import ringlog
from conftest import export_rows, user_keys


def rows_of(run):
    run.finish()
    return [(r["_step"], user_keys(r)) for r in export_rows(run.id)]


def test_implicit_steps_increment(service_env):
    run = ringlog.init(project="steps")
    for i in range(3):
        run.log({"x": float(i)})
    assert run.step == 3
    assert rows_of(run) == [(0, {"x": 0.0}), (1, {"x": 1.0}), (2, {"x": 2.0})]


def test_explicit_steps(service_env):
    run = ringlog.init(project="steps")
    run.log({"a": 1.0}, step=5)  # commit defaults to False with a step: pending at 5
    run.log({"b": 2.0}, step=5)  # same step: same row
    run.log({"a": 3.0}, step=7)  # higher step: row 5 is written, 7 is pending
    run.log({"c": 4.0})  # no step: joins row 7 and commits it
    run.log({"d": 5.0})  # step 8
    assert rows_of(run) == [(5, {"a": 1.0, "b": 2.0}), (7, {"a": 3.0, "c": 4.0}), (8, {"d": 5.0})]


def test_explicit_step_with_commit_true(service_env):
    run = ringlog.init(project="steps")
    run.log({"a": 1.0}, step=2, commit=True)
    run.log({"a": 2.0})
    assert rows_of(run) == [(2, {"a": 1.0}), (3, {"a": 2.0})]


def test_commit_false_accumulates_into_one_step(service_env):
    run = ringlog.init(project="steps")
    run.log({"loss": 0.5}, commit=False)
    run.log({"acc": 0.9}, commit=False)
    run.log({"loss": 0.4, "lr": 0.1})  # later value of a key wins
    run.log({"loss": 0.3})
    assert rows_of(run) == [(0, {"loss": 0.4, "acc": 0.9, "lr": 0.1}), (1, {"loss": 0.3})]


def test_pending_row_is_written_at_finish(service_env):
    run = ringlog.init(project="steps")
    run.log({"a": 1.0}, commit=False)
    assert rows_of(run) == [(0, {"a": 1.0})]


def test_decreasing_step_warns_and_drops(service_env):
    run = ringlog.init(project="steps")
    run.log({"a": 1.0}, step=10, commit=True)
    with pytest.warns(UserWarning, match="step 3.*lower than the current step 11"):
        run.log({"a": 2.0}, step=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run.log({"a": 4.0}, step=11)
    assert rows_of(run) == [(10, {"a": 1.0}), (11, {"a": 4.0})]


def test_module_level_log_uses_the_current_run(service_env):
    ringlog.init(project="steps")
    assert ringlog.log == ringlog.run.log
    ringlog.log({"m": 1.0})
    ringlog.log({"m": 2.0}, commit=False)
    ringlog.log({"n": 3.0})
    run = ringlog.run
    ringlog.finish()
    assert ringlog.run is None
    assert [(r["_step"], user_keys(r)) for r in export_rows(run.id)] == [(0, {"m": 1.0}), (1, {"m": 2.0, "n": 3.0})]
