"""What a type checker sees of the public surface; mypy checks this file in CI.

Every ``# type: ignore[code]`` below is an expectation: mypy runs with
``warn_unused_ignores`` (part of ``strict``), so a line that stops being an
error fails the type check. Each test also runs, and shows that the same
mistake fails at run time too.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, assert_type, get_args

import pytest

import steadyflow as sf
from steadyflow.engine import ENGINE_KINDS, EngineKind


@sf.task
def create_vm(image: str, size_gb: int = 10) -> str:
    return f"{image}:{size_gb}"


@sf.task(provides="ip", name="allocate")
def allocate_ip(vm_id: str) -> str:
    return "10.0.0.1"


async def fetch(url: str) -> bytes:
    return url.encode()


def test_a_bare_decorated_task_keeps_the_functions_call_signature() -> None:
    assert_type(create_vm("ubuntu"), str)
    assert_type(create_vm("ubuntu", size_gb=20), str)
    with pytest.raises(TypeError):
        create_vm("ubuntu", 20, "extra")  # type: ignore[call-arg]
    create_vm(42)  # type: ignore[arg-type]


def test_a_decorator_with_options_keeps_the_signature() -> None:
    assert_type(allocate_ip("vm-1"), str)
    with pytest.raises(TypeError):
        allocate_ip()  # type: ignore[call-arg]


def test_a_plain_call_keeps_the_signature_and_async_functions_return_coroutines() -> None:
    fetch_task = sf.task(fetch, provides="body")
    typed: sf.FunctionTask[[str], Coroutine[Any, Any, bytes]] = fetch_task
    assert typed is fetch_task
    coroutine: Coroutine[Any, Any, bytes] = fetch_task("https://example.test")
    coroutine.close()
    fetch_task(b"not a str").close()  # type: ignore[arg-type]


def test_function_tasks_are_tasks_that_flows_accept() -> None:
    task: sf.Task = create_vm
    flow = sf.Linear("boot", task, allocate_ip)
    assert_type(sf.run(flow, store={"image": "deb", "vm_id": "v"}), dict[str, Any])
    assert_type(sf.load(flow), sf.Engine)


def test_the_engine_is_one_of_the_known_names() -> None:
    assert get_args(EngineKind) == ENGINE_KINDS  # the Literal and the runtime check agree
    flow = sf.Linear("f", create_vm)
    kind: EngineKind = "parallel"
    sf.load(flow, engine=kind)
    with pytest.raises(ValueError, match="unknown engine"):
        sf.load(flow, engine="threads")  # type: ignore[arg-type]


def test_load_and_run_options_are_typed_keywords() -> None:
    flow = sf.Linear("f", create_vm)
    sf.load(flow, max_workers=3, revert="scope", seed=1)
    with pytest.raises(TypeError, match="max_worker"):
        sf.load(flow, max_worker=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="max_worker"):
        sf.run(flow, store={"image": "x"}, max_worker=3)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="revert"):
        sf.load(flow, revert="everything")  # type: ignore[arg-type]
    # A wrong type is caught statically; at run time only once the threads start.
    sf.load(flow, max_workers="3")  # type: ignore[arg-type]
