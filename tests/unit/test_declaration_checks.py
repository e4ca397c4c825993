"""Mistakes caught when a task or flow is declared (or saved), with the task named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.errors import EngineStateError, InvalidAtomError, InvalidInputError


class CreateVM(sf.Task):
    def execute(self, image: str) -> str:
        return f"vm-of-{image}"

    def revert(self, image: str, flavor: str, *, result: Any) -> None:
        """Needs ``flavor``, which execute never receives."""


def test_a_revert_needing_an_input_execute_does_not_receive_is_refused() -> None:
    with pytest.raises(InvalidAtomError, match=r"CreateVM: revert requires \['flavor'\]"):
        CreateVM()


def test_a_function_revert_needing_an_unknown_input_is_refused() -> None:
    def destroy(vm_id: str, *, result: Any) -> None: ...

    with pytest.raises(InvalidAtomError, match=r"create_vm: revert requires \['vm_id'\]"):

        @sf.task(revert=destroy)
        def create_vm(image: str) -> str:
            return image


def test_a_revert_requiring_what_execute_takes_only_by_default_is_refused() -> None:
    def undo(image: str, zone: str, *, result: Any) -> None: ...

    with pytest.raises(InvalidAtomError, match=r"'zone'.*default"):
        sf.task(lambda image, zone="a": image, name="boot", revert=undo)


def test_a_revert_taking_inputs_result_failures_and_defaults_is_accepted() -> None:
    # Given reverts using only what they are offered, or defaulting the rest
    def undo(
        image: str, zone: str = "a", extra: int = 0, *, result: Any, flow_failures: Any
    ) -> None:
        pass

    def undo_anything(**kwargs: Any) -> None:
        pass

    # When they are declared, Then nothing is refused
    sf.task(lambda image, zone="a": image, name="boot", revert=undo)
    sf.task(lambda image: image, name="boot2", revert=undo_anything)
    sf.task(lambda image: image, name="boot3", inject={"image": "x"}, revert=undo)


def test_requires_given_one_string_means_one_name() -> None:
    collect = sf.task(lambda **kw: kw, name="collect", requires="abc")
    assert collect.requires == frozenset({"abc"})


def test_inject_that_is_not_a_mapping_is_refused_naming_the_task() -> None:
    with pytest.raises(InvalidAtomError, match=r"boot: inject must be a mapping"):
        sf.task(lambda image: image, name="boot", inject=[("image", "x")])  # type: ignore[call-overload]


@pytest.mark.parametrize("over", ["abc", b"abc", 42], ids=["str", "bytes", "not-iterable"])
def test_a_map_over_a_string_or_a_non_iterable_fails_naming_the_map(over: Any) -> None:
    # Given a map whose list is a string, bytes or a number, after a task to revert
    undone: list[str] = []
    before = sf.task(lambda: None, name="before", revert=lambda: undone.append("before"))
    mapped = sf.Map(lambda x: x, over="names", provides="out", name="echo")
    engine = sf.load(sf.Linear("f", before, mapped), store={"names": over})

    # When it runs, Then the error names the map and the flow is reverted
    with pytest.raises(InvalidInputError, match=r"Map 'echo' maps over 'names'"):
        engine.run()
    assert engine.state is sf.EngineState.REVERTED
    assert undone == ["before"]


def test_a_map_over_a_string_fails_outside_an_engine_too() -> None:
    mapped = sf.Map(lambda x: x, over="names", name="echo")
    with pytest.raises(InvalidInputError, match="per character"):
        mapped.execute(_items="abc")


def build_flow() -> sf.Linear:
    return sf.Linear("f", sf.task(lambda: None, name="t"))


def test_a_factory_that_cannot_be_imported_is_refused_when_the_flow_is_saved(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with pytest.raises(ValueError, match="cannot be imported"):
        sf.load(build_flow(), backend=url, factory="no_such_module_here:build")
    with pytest.raises(ValueError, match="cannot be imported"):
        sf.load(build_flow(), backend=url, factory=f"{__name__}:no_such_function")


def test_a_factory_in_main_is_refused_when_the_flow_is_saved(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"

    def in_main() -> sf.Linear:
        return build_flow()

    in_main.__module__ = "__main__"
    in_main.__qualname__ = "in_main"
    with pytest.raises(TypeError, match="__main__"):
        sf.load(build_flow(), backend=url, factory=in_main)
    with pytest.raises(ValueError, match="__main__"):
        sf.load(build_flow(), backend=url, factory="__main__:in_main")


def test_an_importable_factory_is_accepted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with sf.load(build_flow(), backend=url, factory=f"{__name__}:build_flow") as engine:
        engine.run()
    assert engine.state is sf.EngineState.SUCCESS


def test_running_a_reverted_persisted_flow_again_says_how_to_start_over(tmp_path: Path) -> None:
    # Given a persisted flow that failed and was reverted
    url = f"sqlite:///{tmp_path / 's.db'}"
    broken = [True]

    def flaky() -> None:
        if broken[0]:
            raise ZeroDivisionError

    flow = sf.Linear("f", sf.task(flaky))
    with pytest.raises(ZeroDivisionError):
        sf.run(flow, backend=url, flow_id="once")

    # When sf.run is called on it again
    with pytest.raises(EngineStateError) as caught:
        sf.run(flow, backend=url, flow_id="once")

    # Then the message offers ways to start over that sf.run users can follow
    message = str(caught.value)
    assert "already ended REVERTED" in message
    assert "new flow_id" in message
    assert "sf.load(flow, backend=..., flow_id='once'); engine.reset()" in message

    # And the advice works: reset through sf.load, then run again
    broken[0] = False
    with sf.load(flow, backend=url, flow_id="once") as engine:
        engine.reset()
        engine.run()
    assert engine.state is sf.EngineState.SUCCESS
