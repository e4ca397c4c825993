"""The import hook: what ``install()`` and ``python -m steadyflow.compat.taskflow`` promise."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from steadyflow.compat import taskflow as layer
from steadyflow.compat.taskflow._hook import TaskflowAlreadyImportedError


@pytest.fixture
def clean_taskflow() -> Iterator[None]:
    """No ``taskflow`` module and no hook before and after the test."""
    layer.uninstall()
    yield
    layer.uninstall()


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, check=False, cwd=cwd
    )


def test_install_makes_taskflow_modules_the_layers(clean_taskflow: None) -> None:
    # Given the layer installed
    layer.install()
    # When TaskFlow's modules are imported by their TaskFlow names
    from taskflow import engines, task
    from taskflow.patterns import linear_flow

    # Then they are the layer's modules, and their classes are steadyflow's
    from steadyflow.compat.taskflow import engines as layer_engines

    assert engines is layer_engines
    assert issubclass(task.Task, __import__("steadyflow").Task)
    assert linear_flow.Flow.__module__.startswith("steadyflow.compat.taskflow")
    assert layer.installed()


def test_install_twice_is_harmless_and_uninstall_forgets(clean_taskflow: None) -> None:
    # Given the layer installed twice
    layer.install()
    layer.install()
    import taskflow

    # When it is uninstalled
    layer.uninstall()
    # Then nothing answers for taskflow any more
    assert not layer.installed()
    assert "taskflow" not in sys.modules
    with pytest.raises(ImportError):
        import taskflow  # noqa: F401


def test_a_module_the_layer_does_not_cover_fails_to_import(clean_taskflow: None) -> None:
    # Given the layer installed
    layer.install()
    # When a TaskFlow module outside its scope is imported
    # Then the import fails as it would without TaskFlow
    with pytest.raises(ImportError):
        import taskflow.jobs.backends  # noqa: F401


def test_install_refuses_when_the_real_taskflow_is_imported(clean_taskflow: None) -> None:
    # Given a module called taskflow that is not the layer
    real = types.ModuleType("taskflow")
    real.__file__ = "/site-packages/taskflow/__init__.py"
    sys.modules["taskflow"] = real
    # When the layer is installed
    # Then it refuses, naming the problem
    with pytest.raises(TaskflowAlreadyImportedError, match="real taskflow is already imported"):
        layer.install()
    assert not layer.installed()


def test_importing_steadyflow_does_not_import_the_layer() -> None:
    # When a fresh process imports steadyflow
    done = _run("-c", "import sys, steadyflow; print('steadyflow.compat' in sys.modules)")
    # Then the layer was not loaded
    assert done.stdout.strip() == "False", done.stderr


def test_the_runner_needs_a_script() -> None:
    # When the runner is started without a script, or with one that does not exist
    bare = _run("-m", "steadyflow.compat.taskflow")
    missing = _run("-m", "steadyflow.compat.taskflow", "no-such-script.py")
    # Then it exits with a message saying what is wrong
    assert bare.returncode != 0
    assert "usage" in bare.stderr
    assert missing.returncode != 0
    assert "no such script: no-such-script.py" in missing.stderr


def test_the_runner_passes_arguments_and_child_processes_see_the_layer(tmp_path: Path) -> None:
    # Given a script that reports its arguments and starts a child importing taskflow
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(
            """
            import subprocess, sys
            import taskflow
            print(__name__, sys.argv[1:], hasattr(taskflow, "install"))
            child = "import taskflow.engines as e; print('child', e.__name__)"
            print(subprocess.run([sys.executable, "-c", child], capture_output=True,
                                 text=True, check=True).stdout, end="")
            """
        )
    )
    # When it runs through the runner
    done = _run("-m", "steadyflow.compat.taskflow", str(script), "a", "--b", cwd=tmp_path)
    # Then it ran as __main__ with its arguments, and the child got the layer too
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "__main__ ['a', '--b'] True",
        "child steadyflow.compat.taskflow.engines",
    ]
