"""The message protocol, the allowlist and the command line, without a broker."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.errors import InvalidAtomError, MessageError, UnknownTaskError
from steadyflow.workers import protocol
from steadyflow.workers._registry import Allowlist, task_ref
from workers import _tasks
from workers.conftest import TESTS_DIR

REQUEST: dict[str, Any] = {
    "id": "r1", "task": "m:f", "version": "1.0", "action": "revert", "flow_id": "f",
    "atom": "a[2]", "element": 2, "attempt": 3, "key": "f:a[2]:3", "epoch": 7,
    "deadline": None, "reply_to": "q", "kwargs": {"x": [1, "two"], "result": None},
}  # fmt: skip


def test_a_request_round_trips_with_failures_inside() -> None:
    failure = sf.Failure.from_exception(ValueError("bad"))
    fields = dict(REQUEST, kwargs={"result": failure, "flow_failures": {"b": failure}})
    decoded = protocol.decode(protocol.encode("request", **fields))
    assert decoded["kwargs"]["result"].exc_type_names == failure.exc_type_names
    assert decoded["kwargs"]["flow_failures"]["b"].message == "bad"
    assert decoded["epoch"] == 7
    assert decoded["type"] == "request"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"attempt": "3"}, "invalid 'attempt'"),
        ({"action": "drop"}, "invalid 'action'"),
        ({"element": True}, "invalid 'element'"),
        ({"kwargs": []}, "invalid 'kwargs'"),
        ({"surprise": 1}, "unknown fields"),
    ],
)
def test_an_invalid_request_is_refused_when_sent(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(MessageError, match=problem):
        protocol.encode("request", **dict(REQUEST, **change))


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"\x80\x04\x95", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"v":2,"type":"request"}', "unknown protocol version 2"),
        (b'{"v":1,"type":"exec"}', "unknown message type"),
        (b'{"v":1,"type":"progress","id":"x"}', "lacks 'fraction'"),
        (b'{"v":1,"type":"progress","id":"x","fraction":1.5}', "invalid 'fraction'"),
        (b'{"v":1,"type":"result","id":"x","worker":"w","key":"k","epoch":null,"ok":false,'
         b'"value":{"$failure":{"version":99}},"failure":null}', "invalid failure record"),
    ],
)  # fmt: skip
def test_a_malformed_message_is_refused_when_received(body: bytes, problem: str) -> None:
    with pytest.raises(MessageError, match=problem):
        protocol.decode(body)


def test_size_limits_hold_both_ways() -> None:
    big = dict(REQUEST, kwargs={"blob": "x" * 2000})
    with pytest.raises(MessageError, match="over the limit of 1000"):
        protocol.encode("request", 1000, **big)
    body = protocol.encode("request", **big)
    with pytest.raises(MessageError, match="over the limit"):
        protocol.decode(body, 1000)


def test_values_that_are_not_json_cannot_be_sent() -> None:
    with pytest.raises(MessageError, match="plain JSON"):
        protocol.encode("request", **dict(REQUEST, kwargs={"s": {1, 2}}))
    with pytest.raises(MessageError, match="plain JSON"):
        protocol.encode("request", **dict(REQUEST, kwargs={"n": float("nan")}))


def test_the_allowlist_runs_only_what_it_was_given() -> None:
    allow = Allowlist(modules=["workers._tasks"])
    assert allow.get(task_ref(_tasks.add), "1.0") is _tasks.add
    assert isinstance(allow.get("workers._tasks:Greet", "1.0"), _tasks.Greet)
    with pytest.raises(UnknownTaskError, match="only in versions"):
        allow.get(task_ref(_tasks.add), "2.0")
    with pytest.raises(UnknownTaskError, match="does not run os:system"):
        allow.get("os:system", "1.0")
    explicit = Allowlist([_tasks.add.fn, _tasks.Greet])
    assert [ref for ref, _ in explicit.names()] == ["workers._tasks:Greet", "workers._tasks:add"]
    with pytest.raises(InvalidAtomError):
        Allowlist(["not a task"])


def test_importing_steadyflow_or_its_workers_package_does_not_import_kombu() -> None:
    code = (
        "import sys, steadyflow, steadyflow.workers, steadyflow.workers._cli; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('kombu', 'amqp'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


def test_the_worker_command_explains_bad_input() -> None:
    env = {"PYTHONPATH": str(TESTS_DIR), "PATH": ""}
    usage = subprocess.run(
        [sys.executable, "-m", "steadyflow.workers", "--topic", "t"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert usage.returncode == 2
    assert "MODULE" in usage.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "steadyflow.workers", "--topic", "t", "no_such_module_here"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert missing.returncode == 2
    assert "No module named 'no_such_module_here'" in missing.stderr


def test_an_unreachable_broker_is_a_clear_error() -> None:
    flow = sf.Linear("nowhere", _tasks.add)
    began = time.monotonic()
    with pytest.raises(sf.errors.BackendUnavailableError, match=r"broker amqp://127\.0\.0\.1:9/"):
        sf.run(
            flow,
            store={"x": 1, "y": 2},
            engine="workers",
            broker="amqp://guest:secret@127.0.0.1:9//",
            topic="t",
        )
    assert time.monotonic() - began < 10


def test_the_workers_engine_needs_its_options() -> None:
    flow = sf.Linear("f", _tasks.add)
    with pytest.raises(ValueError, match="needs broker"):
        sf.load(flow, engine="workers", topic="t")
    with pytest.raises(ValueError, match='options of engine="workers"'):
        sf.load(flow, broker="amqp://x//", topic="t")
    with pytest.raises(ValueError, match="topic must be"):
        sf.run(flow, store={"x": 1, "y": 2}, engine="workers", broker="amqp://x//", topic="a b")
