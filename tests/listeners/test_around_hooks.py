"""Hooks a listener sets on a job's context run around the atom's code, where it runs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.engine.options import EngineKind
from steadyflow.listeners import Listener


class Around(Listener):
    """Adds a hook to every job; records where the hook and the atom's code ran."""

    def __init__(self, engine: sf.Engine, log: list[tuple[str, str, int]], fail: bool) -> None:
        super().__init__(engine)
        self.log = log
        self.fail = fail

    def _hook(self, name: str) -> Callable[[], Callable[[], None]]:
        def enter() -> Callable[[], None]:
            self.log.append(("enter", name, threading.get_ident()))
            if self.fail:
                raise RuntimeError("hook broke")
            return lambda: self.log.append(("leave", name, threading.get_ident()))

        return enter

    def on_atom_state(self, details: Mapping[str, Any]) -> None:
        context = details.get("context")
        if context is None:
            return
        assert context.atom_name == details["atom_name"]
        assert context.attempt == details["attempt"]
        context._around = [*(context._around or []), self._hook(details["atom_name"])]


@pytest.mark.parametrize("kind", ["serial", "parallel", "asyncio"])
def test_hooks_run_around_the_atom_in_its_own_thread(kind: EngineKind) -> None:
    # Given a listener that hooks every job, and a task that notes its thread
    log: list[tuple[str, str, int]] = []

    @sf.task(name="t")
    def t() -> None:
        log.append(("run", "t", threading.get_ident()))

    engine = sf.load(sf.Linear("l", t), engine=kind)
    # When the run goes
    with Around(engine, log, fail=False):
        engine.run()
    # Then the hook was entered just before the task and left just after, in its thread
    assert [(what, name) for what, name, _ in log] == [("enter", "t"), ("run", "t"), ("leave", "t")]
    assert len({thread for _, _, thread in log}) == 1


def test_a_hook_that_raises_is_logged_and_the_run_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[tuple[str, str, int]] = []
    engine = sf.load(sf.Linear("l", sf.task(lambda: 7, name="t", provides="x")))
    with Around(engine, log, fail=True):
        engine.run()
    assert engine.storage.fetch("x") == 7
    assert "listener hook" in caplog.text
    assert "hook broke" in caplog.text
