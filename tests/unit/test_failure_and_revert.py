"""Failure capture and round trip; revert in reverse order; failing reverts."""

from __future__ import annotations

import json
import traceback
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.errors import FailureGroup, RemoteFailureError, RevertFailedError
from steadyflow.failure import Failure

from ._helpers import Journal, Step


def _raise_file_not_found() -> None:
    try:
        raise KeyError("inner cause")
    except KeyError as cause:
        raise FileNotFoundError("missing.conf") from cause


def test_from_exception_captures_the_exception_being_handled() -> None:
    try:
        _raise_file_not_found()
    except OSError:
        failure = Failure.from_exception()
    assert failure.exc_type_name == "builtins.FileNotFoundError"
    assert failure.message == "missing.conf"
    assert "_raise_file_not_found" in failure.traceback_str
    assert failure.cause is not None
    assert failure.cause.check(KeyError)


def test_from_exception_outside_an_except_block_needs_an_exception() -> None:
    with pytest.raises((ValueError, TypeError)):
        Failure.from_exception()


def test_a_failure_round_trips_through_json_with_bases_message_traceback_and_cause() -> None:
    try:
        _raise_file_not_found()
    except OSError as exc:
        original = Failure.from_exception(exc)
    restored = Failure.from_dict(json.loads(json.dumps(original.to_dict())))
    assert restored.check(OSError) is OSError  # a base class of the stored type
    assert restored.check(FileNotFoundError) is FileNotFoundError
    assert restored.check(ValueError) is None
    assert restored.check("builtins.OSError") == "builtins.OSError"
    assert restored.message == "missing.conf"
    assert restored.traceback_str == original.traceback_str
    assert restored.cause is not None
    assert restored.cause.check(LookupError)
    assert restored.matches(original)


def test_reraise_keeps_the_type_and_traceback_and_a_restored_one_raises_remote() -> None:
    try:
        _raise_file_not_found()
    except OSError as exc:
        failure = Failure.from_exception(exc)
    with pytest.raises(FileNotFoundError) as caught:
        failure.reraise()
    frames = [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert "_raise_file_not_found" in frames
    restored = Failure.from_dict(failure.to_dict())
    with pytest.raises(RemoteFailureError, match=r"missing\.conf"):
        restored.reraise()


def test_a_failure_reverts_every_completed_task_in_reverse_order() -> None:
    journal = Journal()
    flow = sf.Linear(
        "f",
        Step("a", journal),
        sf.Unordered("middle", Step("b", journal)),
        Step("c", journal),
        Step("d", journal, fail=ValueError("d broke")),
        Step("never", journal),
    )
    engine = sf.load(flow)
    with pytest.raises(ValueError, match="d broke"):
        engine.run()
    assert journal.names("execute") == ["a", "b", "c", "d"]
    assert journal.names("revert") == ["d", "c", "b", "a"]
    states = engine.storage.atom_states()
    assert states["never"] is sf.AtomState.PENDING
    assert {states[n] for n in "abcd"} == {sf.AtomState.REVERTED}
    assert engine.storage.flow_state is sf.FlowState.REVERTED


def test_the_failed_task_revert_gets_its_failure_as_result() -> None:
    seen: list[Any] = []

    class Fragile(sf.Task):
        def execute(self) -> None:
            raise OSError("disk")

        def revert(self, *, result: Any, flow_failures: dict[str, Failure]) -> None:
            seen.append(result)

    with pytest.raises(OSError, match="disk"):
        sf.run(sf.Linear("f", Fragile(name="fragile")))
    assert isinstance(seen[0], Failure)
    assert seen[0].check(OSError)


def test_the_caller_sees_the_original_exception_object_with_its_traceback() -> None:
    boom = ValueError("original")

    def explode() -> None:
        raise boom

    with pytest.raises(ValueError) as caught:
        sf.run(sf.Linear("f", sf.task(explode, name="explode")))
    assert caught.value is boom
    frames = [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert "explode" in frames


def test_a_revert_that_fails_leaves_revert_failure_and_the_error_carries_both() -> None:
    journal = Journal()
    flow = sf.Linear(
        "f",
        Step("a", journal),
        Step("b", journal, fail_revert=RuntimeError("cannot undo b")),
        Step("c", journal, fail=ValueError("c broke")),
    )
    engine = sf.load(flow)
    with pytest.raises(RevertFailedError) as caught:
        engine.run()
    error = caught.value
    assert [f.message for f in error.failures] == ["c broke"]
    assert list(error.revert_failures) == ["b"]
    assert error.revert_failures["b"].check(RuntimeError)
    assert "c broke" in str(error)
    assert "cannot undo b" in str(error)
    assert engine.storage.get_state("b") is sf.AtomState.REVERT_FAILURE
    # a predecessor of a failed revert is left alone: it may depend on b being undone
    assert engine.storage.get_state("a") is sf.AtomState.SUCCESS
    assert engine.state is sf.EngineState.FAILURE


def test_two_failures_at_once_raise_one_failure_group() -> None:
    journal = Journal()
    flow = sf.Unordered(
        "u",
        Step("x", journal, fail=ValueError("x")),
        Step("y", journal, fail=KeyError("y")),
    )
    with pytest.raises(FailureGroup) as caught:
        sf.run(flow, engine="parallel")
    assert isinstance(caught.value, ExceptionGroup)
    assert sorted(type(e).__name__ for e in caught.value.exceptions) == ["KeyError", "ValueError"]
