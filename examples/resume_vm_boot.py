"""A VM boot that survives its process being killed half-way.

The boot takes six steps, persisted in SQLite. A first process runs them and
is killed with SIGKILL while powering the VM on (no cleanup, no finally: the
process just vanishes). A second process rebuilds the flow from the store
alone and resumes it (once the dead process's lease on the flow has expired):
the steps that had succeeded are skipped, the one that
was running when the process died runs again under the same idempotency key
(so a real cloud API would recognise the repeated request), and the rest run.

Run: python examples/resume_vm_boot.py --fresh     (the whole story; `make demo`)
     python examples/resume_vm_boot.py             (resume a stored boot, or start one)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import steadyflow as sf
from steadyflow.errors import NotFoundError
from steadyflow.persistence import open_backend

FLOW_ID = "vm-boot-demo"
FACTORY = "resume_vm_boot:build_boot"
STEPS = ["allocate-disk", "create-nic", "write-cloud-init", "start-vm", "wait-for-ssh", "dns"]
CRASH_ENV = "VM_BOOT_CRASH_IN"
LEASE_TTL = 3.0
"""Seconds a runner's lease on the flow lasts unless renewed: how long a dead runner blocks it."""


def _say(text: str) -> None:
    # Flushed at once: a process killed with SIGKILL loses whatever is buffered.
    print(text, flush=True)


class Step(sf.Task):
    """One boot step: prints what it does and returns a made-up resource id."""

    def __init__(self, name: str, resource: str, after: list[str]) -> None:
        super().__init__(name, provides=name, requires=after)
        self.resource = resource

    def execute(self, **inputs: object) -> str:
        key = sf.current_context().idempotency_key
        _say(f"  {self.name}: {self.resource} (idempotency key {key})")
        if os.environ.get(CRASH_ENV) == self.name:
            _say("  ...and the process dies (SIGKILL)")
            os.kill(os.getpid(), signal.SIGKILL)
        return self.resource


def build_boot() -> sf.Linear:
    """The boot flow; the factory a resumed run rebuilds it with."""
    resources = ["disk-42", "nic-7", "seed-iso-3", "vm-1234", "ssh-ok", "vm-1234.example.test"]
    steps = []
    previous: list[str] = []
    for name, resource in zip(STEPS, resources, strict=True):
        steps.append(Step(name, resource, after=list(previous)))
        previous = [name]
    return sf.Linear("boot-vm", *steps)


def database() -> Path:
    """Where the state lives: the examples' temp dir when tests run us."""
    root = os.environ.get("STEADYFLOW_EXAMPLE_TMP") or tempfile.gettempdir()
    return Path(root) / "steadyflow_vm_boot.db"


def backend_url() -> str:
    return f"sqlite:///{database()}"


def first_run() -> None:
    """Run the boot in this process until the crash step kills it."""
    with sf.load(
        build_boot(),
        backend=backend_url(),
        flow_id=FLOW_ID,
        factory=FACTORY,
        lease_ttl=LEASE_TTL,
    ) as engine:
        engine.run()


def crash_in_child() -> None:
    _say("== first process: boot the VM ==")
    child = subprocess.run(
        [sys.executable, __file__, "--first-run"],
        env={**os.environ, CRASH_ENV: "start-vm"},
        capture_output=True,
        text=True,
        check=False,
    )
    print(child.stdout, end="")
    if child.returncode == -signal.SIGKILL:
        _say("the first process was killed by SIGKILL part-way through the boot")
    else:
        _say(f"the first process ended with exit code {child.returncode}: {child.stderr}")


def show_store() -> dict[str, sf.AtomState]:
    """Print and return what the store says about each step."""
    with open_backend(backend_url()) as backend:
        stored = backend.get_flow_detail(FLOW_ID)
    states = {
        name: stored.atoms[name].state if name in stored.atoms else sf.AtomState.PENDING
        for name in STEPS
    }
    _say(f"the store says the flow is {stored.state.value}:")
    for name, state in states.items():
        _say(f"  {name:<17} {state.value}")
    return states


def wait_for_lease() -> None:
    """The killed process held the flow's lease: nobody else may run it until it expires."""
    with open_backend(backend_url()) as backend:
        lease = backend.get_lease(FLOW_ID)
        _say(
            f"the dead process's lease on the flow runs out within {LEASE_TTL:.0f} s; "
            "until then nobody else may run it"
        )
        while lease is not None:
            time.sleep(max(0.05, min(LEASE_TTL, lease.expires_at - time.time())))
            lease = backend.get_lease(FLOW_ID)


def resume() -> None:
    """Rebuild the boot from the store alone and finish it."""
    _say("== second process: rebuild the flow from the store and resume it ==")
    before = show_store()
    skipped = [name for name, state in before.items() if state is sf.AtomState.SUCCESS]
    rerun = [name for name, state in before.items() if state is sf.AtomState.RUNNING]
    _say(f"skipping (already done): {', '.join(skipped) or 'nothing'}")
    _say(f"running again (interrupted): {', '.join(rerun) or 'nothing'}")
    wait_for_lease()
    with sf.load_from_backend(backend_url(), FLOW_ID) as engine:
        engine.run()
        after = engine.storage.atom_states()
        ran = [name for name in STEPS if before[name] is not sf.AtomState.SUCCESS]
        _say(f"ran: {', '.join(ran) or 'nothing'}")
        done = all(state is sf.AtomState.SUCCESS for state in after.values())
        vm, dns = engine.storage.fetch("start-vm"), engine.storage.fetch("dns")
        _say(f"VM {vm} is {'up' if done else 'not up'}, reachable as {dns}")


def stored_boot_exists() -> bool:
    if not database().exists():
        return False
    with open_backend(backend_url()) as backend:
        try:
            backend.get_flow_detail(FLOW_ID)
        except NotFoundError:
            return False
    return True


def main(argv: list[str]) -> None:
    if "--first-run" in argv:
        first_run()
        return
    if "--fresh" in argv:
        database().unlink(missing_ok=True)
        for suffix in ("-wal", "-shm"):
            Path(f"{database()}{suffix}").unlink(missing_ok=True)
    if not stored_boot_exists():
        crash_in_child()
    resume()


if __name__ == "__main__":
    main(sys.argv[1:])
