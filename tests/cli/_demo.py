"""A flow module the CLI tests store flows of, and the helpers that store them.

:data:`SOURCE` is written into each test's own directory as ``sf_cli_demo.py``,
so the CLI (in-process or as a real ``python -m steadyflow`` process started
there) can import the flow's factory from the current directory, as a user's
would. Every ``execute`` and ``revert`` appends ``<event> <atom> <idempotency
key>`` to the effects file with one unbuffered write, so the file tells what
really ran, whatever happened to the process next.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MODULE = "sf_cli_demo"

SOURCE = '''
import os
import signal

import steadyflow as sf


def _effect(effects, event):
    context = sf.current_context()
    fd = os.open(effects, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{event} {context.atom_name} {context.idempotency_key}\\n".encode())
    finally:
        os.close(fd)


class Step(sf.Task):
    def __init__(self, name, effects, *, crash_marker=None, fail_marker=None, **options):
        super().__init__(name, **options)
        self.effects = effects
        self.crash_marker = crash_marker
        self.fail_marker = fail_marker

    def execute(self):
        _effect(self.effects, "exec")
        if self.crash_marker and os.path.exists(self.crash_marker):
            os.unlink(self.crash_marker)
            os.kill(os.getpid(), signal.SIGKILL)
        if self.fail_marker and os.path.exists(self.fail_marker):
            os.unlink(self.fail_marker)
            raise RuntimeError(f"{self.name} broke on its first try")
        return self.name.upper()

    def revert(self, **_):
        _effect(self.effects, "revert")


def build(effects, crash_marker=None, fail_marker=None, always_fail=False):
    """reserve -> (charge, notify under a retry) -> ship."""
    payment = sf.Unordered(
        "payment",
        Step("charge", effects, crash_marker=crash_marker, fail_marker=fail_marker),
        Step("notify", effects),
        retry=sf.retry.Times(3),
    )
    last = Step("ship", effects)
    if always_fail:
        last = Broken("ship", effects)
    return sf.Linear("order", Step("reserve", effects), payment, last)


class Broken(Step):
    def execute(self):
        _effect(self.effects, "exec")
        raise ValueError("no courier today")
'''


def write_module(directory: Path) -> None:
    """Write the flow module where the CLI will look for it (the current directory)."""
    (directory / f"{MODULE}.py").write_text(SOURCE, encoding="utf-8")


def store_flow(
    directory: Path,
    url: str,
    flow_id: str,
    *,
    crash: bool = False,
    fail_once: bool = False,
    always_fail: bool = False,
    lease_ttl: float = 30.0,
) -> subprocess.CompletedProcess[str]:
    """Run the demo flow in a real process started in ``directory``; the effects go to
    ``directory/effects.log``. With ``crash``, that process SIGKILLs itself in ``charge``.
    """
    effects = directory / "effects.log"
    crash_marker = directory / "crash.marker"
    fail_marker = directory / "fail.marker"
    if crash:
        crash_marker.touch()
    if fail_once:
        fail_marker.touch()
    kwargs = {
        "crash_marker": str(crash_marker) if crash else None,
        "fail_marker": str(fail_marker) if fail_once else None,
        "always_fail": always_fail,
    }
    code = (
        "import steadyflow as sf, json, sys\n"
        f"from {MODULE} import build\n"
        f"kwargs = json.loads({json_text(kwargs)!r})\n"
        f"engine = sf.load(build({str(effects)!r}, **kwargs), backend={url!r}, "
        f"flow_id={flow_id!r}, factory='{MODULE}:build', factory_args=[{str(effects)!r}], "
        f"factory_kwargs=kwargs, lease_ttl={lease_ttl!r})\n"
        "try:\n"
        "    engine.run()\n"
        "except Exception as exc:\n"
        "    print('failed:', exc)\n"
        "engine.close()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(directory), *sys.path])}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def json_text(value: object) -> str:
    import json

    return json.dumps(value)


def effects(directory: Path) -> list[tuple[str, str, str]]:
    """What the flow's tasks did, in order: (event, atom, idempotency key)."""
    path = directory / "effects.log"
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(event, atom, key) for event, atom, key in (line.split(" ") for line in lines)]
