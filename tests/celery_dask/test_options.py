"""The celery and dask engines' options and entry points, checked without any cluster."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.dask.executor import DaskExecutor
from workers import _tasks


def _flow() -> sf.Flow:
    return sf.Linear("f", _tasks.noop)


def test_each_engine_needs_its_own_option_and_refuses_the_others() -> None:
    with pytest.raises(ValueError, match="celery_app="):
        sf.load(_flow(), engine="celery")
    with pytest.raises(ValueError, match="client="):
        sf.load(_flow(), engine="dask")
    with pytest.raises(ValueError, match="option of engine=\"celery\", not 'dask'"):
        sf.load(_flow(), engine="dask", client="tcp://127.0.0.1:1", celery_app=object())
    with pytest.raises(ValueError, match="option of engine=\"dask\", not 'serial'"):
        sf.load(_flow(), client="tcp://127.0.0.1:1")


def test_the_dask_executor_takes_a_client_or_an_address() -> None:
    with pytest.raises(TypeError, match=r"distributed\.Client or a scheduler address"):
        DaskExecutor(object())
    with pytest.raises(ValueError, match="capacity"):
        DaskExecutor("tcp://127.0.0.1:1", capacity=0)


def test_install_refuses_an_app_without_tasks_or_not_an_app() -> None:
    celery: Any = pytest.importorskip("celery", reason="needs steadyflow[celery]")
    import steadyflow.celery

    with pytest.raises(TypeError, match=r"celery\.Celery app"):
        steadyflow.celery.install(object(), [_tasks.noop])
    app = celery.Celery("t", set_as_current=False)
    with pytest.raises(ValueError, match="needs tasks"):
        steadyflow.celery.install(app)
    task = steadyflow.celery.install(app, [_tasks.noop])
    assert task.name == steadyflow.celery.TASK_NAME == "steadyflow.run"
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True
    assert task.serializer == "json"


def test_importing_steadyflow_and_its_engine_packages_loads_neither_celery_nor_dask() -> None:
    code = (
        "import sys, steadyflow, steadyflow.celery, steadyflow.dask;"
        "print(sorted(m for m in ('celery', 'distributed', 'dask', 'kombu') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
