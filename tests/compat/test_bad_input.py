"""What the layer says when a TaskFlow program asks for something it cannot do.

``taskflow.*`` is untyped for mypy (it resolves only at run time, through the
hook), hence the ``type: ignore[misc]`` on classes deriving from its names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from steadyflow.compat import taskflow as layer


@pytest.fixture
def tf() -> Iterator[Any]:
    """The layer installed; yields ``import taskflow`` (the layer's package)."""
    layer.uninstall()
    layer.install()
    import taskflow

    yield taskflow
    layer.uninstall()


def _flow(tf: Any) -> Any:
    from taskflow import task
    from taskflow.patterns import linear_flow

    class Noop(task.Task):  # type: ignore[misc]
        def execute(self) -> None:
            return None

    return linear_flow.Flow("f").add(Noop(name="noop"))


def test_an_unknown_engine_is_refused_naming_the_ones_covered(tf: Any) -> None:
    from taskflow import engines, exceptions

    # When a program asks for an engine the layer does not cover
    # Then it gets TaskFlow's NotFound, naming what is covered
    with pytest.raises(exceptions.NotFound, match=r"worker-based.*parallel"):
        engines.load(_flow(tf), engine="worker-based")


def test_the_processes_executor_is_refused_with_what_to_use_instead(tf: Any) -> None:
    from taskflow import engines, exceptions

    # Given a parallel engine asked to run tasks in processes
    engine = engines.load(_flow(tf), engine="parallel", executor="processes")
    # When it runs
    # Then it refuses, saying threads are what the layer offers
    with pytest.raises(exceptions.NotImplementedError, match="threads only"):
        engine.run()


def test_an_unknown_backend_scheme_is_refused_naming_the_accepted_ones(tf: Any) -> None:
    from taskflow import exceptions
    from taskflow.persistence import backends

    # When a program fetches a backend steadyflow does not have
    # Then it gets NotFound naming the scheme and what is accepted
    with pytest.raises(exceptions.NotFound, match=r"zookeeper.*sqlite"):
        backends.fetch({"connection": "zookeeper://127.0.0.1:2181"})


def test_a_directory_backend_needs_a_path(tf: Any) -> None:
    from taskflow.persistence import backends

    # When a dir: backend is fetched without a path
    # Then it is refused as TaskFlow refuses it
    with pytest.raises(ValueError, match="Empty path"):
        backends.fetch({"connection": "dir://"})


def test_a_retry_controller_without_on_failure_cannot_be_made(tf: Any) -> None:
    from taskflow import retry

    class Undecided(retry.Retry):  # type: ignore[misc]
        pass

    # When a Retry subclass without on_failure is instantiated
    # Then it fails as an abstract class does
    with pytest.raises(TypeError, match="on_failure"):
        Undecided()


def test_provides_of_the_wrong_type_is_refused(tf: Any) -> None:
    from taskflow import task

    class Give(task.Task):  # type: ignore[misc]
        def execute(self) -> int:
            return 1

    # When provides is neither a name nor names
    # Then the task is refused, naming what provides may be
    with pytest.raises(TypeError, match="provides parameter should be str, set or tuple/list"):
        Give(provides=42)


def test_a_flow_detail_without_a_factory_cannot_be_rebuilt(tf: Any) -> None:
    from taskflow import engines
    from taskflow.persistence import models

    # Given a flow detail saved without a factory
    detail = models.FlowDetail("f", "00000000-0000-4000-8000-000000000001")
    # When the program asks to rebuild its flow
    # Then it is told why it cannot
    with pytest.raises(ValueError, match="no factory"):
        engines.flow_from_detail(detail)


def test_injecting_into_a_prepared_persisted_engine_is_refused(tf: Any) -> None:
    from taskflow import engines, exceptions
    from taskflow.persistence import backends

    # Given a persisted engine that was prepared (its store is stored then)
    engine = engines.load(_flow(tf), backend=backends.fetch({"connection": "memory://"}))
    engine.prepare()
    # When a value is injected
    # Then it is refused, saying when injecting works
    with pytest.raises(exceptions.DisallowedAccess, match="before prepare"):
        engine.storage.inject({"late": 1})
