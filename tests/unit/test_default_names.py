"""Default atom names are ones people can type: the function's or the class's own."""

from __future__ import annotations

import functools

import pytest

import steadyflow as sf
from steadyflow.errors import DuplicateNameError, InvalidAtomError


class CreateVM(sf.Task):
    def execute(self) -> str:
        return "vm-1"


@sf.task
def create_vm() -> str:
    return "vm-1"


def test_a_function_task_is_named_after_its_function() -> None:
    assert create_vm.name == "create_vm"
    assert sf.task(create_vm.fn, provides="vm").name == "create_vm"


def test_a_class_task_is_named_after_its_class() -> None:
    assert CreateVM().name == "CreateVM"


def test_the_default_name_reads_back_by_that_name_after_a_run() -> None:
    # Given a flow of default-named tasks
    engine = sf.load(sf.Linear("f", create_vm, CreateVM()))

    # When it runs, Then each result is found under the name one would type
    engine.run()
    assert engine.storage.get_result("create_vm") == "vm-1"
    assert engine.storage.get_state("CreateVM") is sf.AtomState.SUCCESS


@pytest.mark.parametrize(
    "unnamed",
    [lambda: 1, functools.partial(lambda x: x, 1)],
    ids=["lambda", "partial"],
)
def test_a_callable_without_a_usable_name_must_be_given_one(unnamed: object) -> None:
    with pytest.raises(InvalidAtomError, match=r"pass name="):
        sf.task(unnamed)  # type: ignore[call-overload]
    assert sf.task(unnamed, name="one").name == "one"  # type: ignore[call-overload]


def test_two_defaults_that_clash_are_a_duplicate_name_error_suggesting_name() -> None:
    # Given two tasks defaulting to the same name (a class instantiated twice)
    flow = sf.Linear("f", CreateVM(), CreateVM())

    # When the flow is compiled, Then the error names the clash and suggests name=
    with pytest.raises(DuplicateNameError, match=r"'CreateVM'.*name="):
        sf.load(flow).compile()


def test_a_map_over_a_lambda_borrows_the_maps_name() -> None:
    mapped = sf.Map(lambda x: x * 2, over="xs", provides="ys", name="double")
    assert mapped.element.name == "double-element"
    assert sf.run(sf.Linear("f", mapped), store={"xs": [1, 2]}) == {"ys": [2, 4]}
