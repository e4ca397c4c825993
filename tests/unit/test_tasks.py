"""Tasks: inputs inferred from signatures, provides/rebind/inject/requires, names, progress."""

from __future__ import annotations

import functools
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.errors import InvalidAtomError
from steadyflow.failure import Failure


class Boot(sf.Task):
    def execute(self, image: str, flavor: str = "small") -> str:
        return f"{image}/{flavor}"


def test_requirements_come_from_the_execute_signature_and_defaults_are_optional() -> None:
    boot = Boot()
    assert boot.requires == frozenset({"image"})
    assert boot.optional == frozenset({"flavor"})


def test_the_default_name_is_the_class_name_and_name_overrides_it() -> None:
    assert Boot().name == "Boot"
    assert Boot(name="boot-1").name == "boot-1"


def test_provides_a_single_name_publishes_the_whole_result() -> None:
    assert sf.run(sf.Linear("f", Boot(provides="vm")), store={"image": "deb"}) == {
        "vm": "deb/small"
    }


def test_provides_a_tuple_unpacks_the_result_by_position() -> None:
    @sf.task(provides=("host", "port"))
    def address() -> tuple[str, int]:
        return "10.0.0.1", 22

    assert sf.run(sf.Linear("f", address)) == {"host": "10.0.0.1", "port": 22}


def test_provides_a_dict_maps_names_to_keys_of_the_result() -> None:
    @sf.task(provides={"vm_id": "id", "ip": "address"})
    def create() -> dict[str, str]:
        return {"id": "vm-1", "address": "10.0.0.2", "ignored": "x"}

    assert sf.run(sf.Linear("f", create)) == {"vm_id": "vm-1", "ip": "10.0.0.2"}


def test_rebind_as_a_list_renames_inputs_by_position() -> None:
    flow = sf.Linear("f", Boot(provides="vm", rebind=["os_image", "size"]))
    assert sf.run(flow, store={"os_image": "alpine", "size": "large"}) == {"vm": "alpine/large"}


def test_rebind_as_a_dict_renames_named_inputs() -> None:
    flow = sf.Linear("f", Boot(provides="vm", rebind={"image": "os_image"}))
    assert Boot(rebind={"image": "os_image"}).requires == frozenset({"os_image"})
    assert sf.run(flow, store={"os_image": "alpine"}) == {"vm": "alpine/small"}


def test_inject_pins_a_value_for_one_atom_and_wins_over_the_store() -> None:
    flow = sf.Linear(
        "f",
        Boot(name="a", provides="a", inject={"image": "pinned"}),
        Boot(name="b", provides="b"),
    )
    assert sf.run(flow, store={"image": "shared"}) == {"a": "pinned/small", "b": "shared/small"}


def test_requires_adds_inputs_for_a_kwargs_task() -> None:
    class Collect(sf.Task):
        def execute(self, **inputs: Any) -> dict[str, Any]:
            return inputs

    collect = Collect(provides="seen", requires=["x", "y"])
    assert collect.requires == frozenset({"x", "y"})
    assert sf.run(sf.Linear("f", collect), store={"x": 1, "y": 2, "z": 3}) == {
        "seen": {"x": 1, "y": 2}
    }


def test_requires_naming_no_parameter_of_a_fixed_signature_is_refused() -> None:
    with pytest.raises(InvalidAtomError, match="requires='nope'"):
        Boot(requires=["nope"])


def test_rebind_and_inject_naming_unknown_parameters_are_refused() -> None:
    with pytest.raises(InvalidAtomError, match="unknown parameter 'colour'"):
        Boot(rebind={"colour": "x"})
    with pytest.raises(InvalidAtomError, match=r"inject names unknown parameters \['colour'\]"):
        Boot(inject={"colour": "x"})


def test_a_task_class_without_execute_is_refused() -> None:
    class Empty(sf.Task):
        pass

    with pytest.raises(InvalidAtomError, match="must define execute"):
        Empty()


def test_revert_gets_the_inputs_the_result_and_the_flow_failures() -> None:
    seen: dict[str, Any] = {}

    class Reserve(sf.Task):
        def execute(self, amount: int) -> str:
            return f"hold-{amount}"

        def revert(self, amount: int, *, result: Any, flow_failures: dict[str, Failure]) -> None:
            seen.update(amount=amount, result=result, failures=dict(flow_failures))

    @sf.task
    def charge() -> None:
        raise RuntimeError("card declined")

    with pytest.raises(RuntimeError, match="card declined"):
        sf.run(sf.Linear("pay", Reserve(provides="hold"), charge), store={"amount": 5})
    assert seen["amount"] == 5
    assert seen["result"] == "hold-5"
    assert list(seen["failures"]) == [charge.name]
    assert seen["failures"][charge.name].check(RuntimeError)


def test_a_revert_may_accept_only_what_it_needs() -> None:
    undone: list[str] = []

    class Minimal(sf.Task):
        def execute(self, x: int) -> None:
            return None

        def revert(self, **kwargs: Any) -> None:
            undone.append(",".join(sorted(kwargs)))

    class Bare(sf.Task):
        def execute(self) -> None:
            raise ValueError("boom")

        def revert(self) -> None:
            undone.append("bare")

    with pytest.raises(ValueError, match="boom"):
        sf.run(sf.Linear("f", Minimal(), Bare()), store={"x": 1})
    assert undone == ["bare", "flow_failures,result,x"]


def test_update_progress_emits_progress_events_clamped_to_0_and_1() -> None:
    class Copy(sf.Task):
        def execute(self) -> None:
            self.update_progress(0.5)
            self.update_progress(7)

    engine = sf.load(sf.Linear("f", Copy(name="copy")))
    with sf.listeners.CapturingListener(engine) as capture:
        engine.run()
    assert capture.progress == [("copy", 0.5), ("copy", 1.0)]
    assert engine.storage.get_meta("copy")["progress"] == 1.0


def test_update_progress_outside_an_engine_does_nothing() -> None:
    class Copy(sf.Task):
        def execute(self) -> None:
            self.update_progress(0.5)

    Copy().execute()  # no engine, no error


def test_sf_task_as_a_bare_decorator_keeps_the_function_callable() -> None:
    @sf.task
    def double(x: int) -> int:
        return 2 * x

    assert isinstance(double, sf.FunctionTask)
    assert double.name == "double"
    assert double.requires == frozenset({"x"})
    assert double(4) == 8


def test_sf_task_with_options_and_as_a_call() -> None:
    undone: list[Any] = []

    def undo(x: int, *, result: Any) -> None:
        undone.append((x, result))

    @sf.task(provides="y", name="double", revert=undo)
    def double(x: int) -> int:
        return 2 * x

    fail = sf.task(lambda: 1 / 0, name="fail")
    with pytest.raises(ZeroDivisionError):
        sf.run(sf.Linear("f", double, fail), store={"x": 3})
    assert undone == [(3, 6)]


def test_sf_task_reads_the_signature_of_a_wrapped_function() -> None:
    def logged(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return wrapper

    @sf.task(provides="z")
    @logged
    def add(x: int, y: int = 1) -> int:
        return x + y

    assert add.requires == frozenset({"x"})
    assert sf.run(sf.Linear("f", add), store={"x": 1, "y": 5}) == {"z": 6}


def test_positional_only_parameters_are_refused() -> None:
    def positional(x: int, /) -> int:
        return x

    with pytest.raises(InvalidAtomError, match="positional-only"):
        sf.task(positional)


def test_sf_task_refuses_a_class() -> None:
    with pytest.raises(InvalidAtomError, match="needs a function"):
        sf.task(Boot)
