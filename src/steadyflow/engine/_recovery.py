"""The durable recovery record: what a resumed run needs to decide as the first run would.

Atom states, results, failures and retry controllers' histories live in the
atoms' own rows. What otherwise lives only in the engine loop is kept here:

- the revert in progress: its mode (``"all"``, the whole flow; ``"scope"``,
  the flows of controllers that gave up under ``revert="scope"``;
  ``"restart"``, the flows of controllers that retry) and those controllers;
- the run failures that started it (so a resumed run raises the same error);
- the reverts that failed during it (they block their predecessors, and in a
  retried scope they escalate to reverting everything);
- per-element retry histories of Map atoms;
- pending backoff timers, as wall-clock due times, so that a resumed run waits
  only what is left of them;
- a revoke the run has acted on (its reason and who asked): a resumed run
  reverts instead of running forward, and ends revoked. It stays in the
  record of the REVERTED flow, as the note of why it was undone.

The record is stored in the flow detail's meta under :data:`RECOVERY_KEY`, in
the same transaction as the atoms of the round that changed it (the flow row
and its atoms are one ``save_flow_detail``). It is written only when one of
the above changes, so a run that never fails or retries never writes it, and
it is removed once nothing is left to recover (no revert, timer or element
history; the flow finished). Map elements' own
state (states, attempts, failures) is kept in the map atom's meta, under the
keys of :mod:`steadyflow.engine._mapping`.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from steadyflow.errors import CorruptRecordError
from steadyflow.failure import Failure
from steadyflow.retry import Attempt
from steadyflow.states import AtomState

if TYPE_CHECKING:
    from steadyflow.engine._machine import Machine
    from steadyflow.engine._storage import Storage

__all__ = [
    "RECORD_FORMAT",
    "RECOVERY_KEY",
    "RESTART",
    "REVERT_ALL",
    "REVERT_SCOPE",
    "Recovery",
    "Restored",
    "clear",
]

RECOVERY_KEY = "recovery"
"""The key of the record in ``FlowDetail.meta``."""

RECORD_FORMAT = 1
"""Version of the record's JSON shape; a newer one is refused, not guessed at."""

REVERT_ALL = "all"
REVERT_SCOPE = "scope"
RESTART = "restart"
_MODES = frozenset({REVERT_ALL, REVERT_SCOPE, RESTART})


class Restored:
    """What a stored record says, in node indices, for the loop to act on."""

    __slots__ = ("controllers", "mode", "revert_failed", "run_failures", "timers")

    def __init__(self) -> None:
        self.mode: str | None = None
        """The revert in progress, or None."""
        self.controllers: list[int] = []
        self.run_failures: list[Failure] = []
        self.revert_failed: list[int] = []
        self.timers: dict[tuple[int, int], tuple[float, int]] = {}
        """(node, element or -1) -> (due on the engine's clock, element attempt)."""


class Recovery:
    """Keeps one run's recovery record in step with its loop, and reads it back.

    The loop reports each change (:meth:`begin`, :meth:`end`,
    :meth:`changed`); the storage's next flush has the record encoded, from
    the loop's own fields, into the flow meta it writes with that round.
    """

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.mode: str | None = None
        self.controllers: list[int] = []
        self.written = False
        """Whether the store may hold a record (so that ending it must remove it)."""
        self.stale = False
        """Whether the loop changed the record since it was last encoded."""
        machine.storage.before_flow_write = self._encode_into_storage

    def begin(self, mode: str, controllers: list[int]) -> None:
        """A revert starts: of the whole flow, of scopes, or before a retry."""
        self.mode = mode
        self.controllers = sorted(controllers)
        self.changed()

    def end(self) -> None:
        """The revert is over (the flow ended, or the retried scopes restart)."""
        self.mode = None
        self.controllers = []
        self.changed()

    def changed(self) -> None:
        """Note a change; the next flush encodes the record once and writes it.

        Encoding waits for the flush, so a round with many changes (element
        failures of a wide map) encodes the record once, not once per change.
        """
        if not self.stale:
            self.stale = True
            self.machine.storage.touch_flow()

    def _encode_into_storage(self) -> None:
        """Put the encoded record (or its removal) in the flow meta being written."""
        if not self.stale:
            return
        self.stale = False
        data = self.encode()
        if data is None and not self.written:
            return
        self.machine.storage.flow_meta[RECOVERY_KEY] = data
        self.written = data is not None or self.written

    # -- encoding --------------------------------------------------------------------------

    def encode(self) -> dict[str, Any] | None:
        """The record as JSON-able data; None when there is nothing to recover."""
        m = self.machine
        names = [node.name for node in m.nodes]
        data: dict[str, Any] = {}
        revoke = m.revoke
        if m.revoking and revoke is not None:
            data["revoke"] = revoke.to_dict()
        if self.mode is not None:
            data["revert"] = {
                "mode": self.mode,
                "controllers": [names[i] for i in self.controllers],
                "run_failures": [f.to_dict() for f in m.run_failures],
                "revert_failed": sorted(names[i] for i in m.revert_failed),
            }
        timers = self._timers(names)
        if timers:
            data["timers"] = timers
        histories = self._element_histories(names)
        if histories:
            data["element_histories"] = histories
        if not data:
            return None
        data["format"] = RECORD_FORMAT
        return data

    def _timers(self, names: list[str]) -> list[list[Any]]:
        m = self.machine
        if not m.timers:
            return []
        # Due times are wall-clock: a resumed process has another monotonic clock.
        offset = time.time() - m.clock.monotonic()
        return [
            [names[node], element, attempt, due + offset]
            for due, _, node, element, attempt in sorted(m.timers)
        ]

    def _element_histories(self, names: list[str]) -> dict[str, dict[str, list[Any]]]:
        encoded: dict[str, dict[str, list[Any]]] = {}
        for (node, element), attempts in self.machine.maps.histories.items():
            if attempts:
                encoded.setdefault(names[node], {})[str(element)] = [
                    [a.value, {name: f.to_dict() for name, f in a.failures.items()}]
                    for a in attempts
                ]
        return encoded

    # -- restoring -------------------------------------------------------------------------

    def restore(self) -> Restored:
        """Read the stored record back (an empty one when there is none).

        Element histories go straight to the map runner; the rest is returned
        for the loop's setup to act on.

        Raises:
            CorruptRecordError: the record is of a newer format or malformed.
        """
        m = self.machine
        data = m.storage.flow_meta.get(RECOVERY_KEY)
        restored = Restored()
        if data is None:
            return restored
        self.written = True
        try:
            self._decode(data, restored)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise CorruptRecordError(
                f"the recovery record of flow {m.storage.flow_id} cannot be read: {exc!r}"
            ) from exc
        return restored

    def resume_revert(self, restored: Restored) -> None:
        """Take up the revert a crash interrupted, as the record describes it."""
        m = self.machine
        if restored.mode is None:
            # A flow stored before the record existed: revert it all; its atoms'
            # states still tell which reverts failed.
            storage = m.storage
            m.run_failures = [f for f in storage.failures if f is not None]
            failed = {
                i: self._revert_failure(i)
                for i, state in enumerate(storage.states)
                if state is AtomState.REVERT_FAILURE
            }
            m._begin_revert(range(len(m.nodes)), m._finish_revert_all, REVERT_ALL, (), failed)
            return
        failed = {i: self._revert_failure(i) for i in restored.revert_failed}
        m.run_failures = restored.run_failures
        m.retrying.resume(restored.mode, restored.controllers, failed)

    def _revert_failure(self, index: int) -> Failure:
        failure = self.machine.storage.revert_failures[index]
        if failure is None:
            # The record and the atoms are one transaction, so this is a damaged store.
            name = self.machine.nodes[index].name
            raise CorruptRecordError(
                f"atom {name!r} is recorded as failing to revert, but without its failure"
            )
        return failure

    def resume_backoff(self, index: int, timer: tuple[float, int] | None) -> None:
        """A controller that was waiting out its backoff: wait what is left of it."""
        m = self.machine
        if timer is None:
            m.ready.append(index)
            return
        m.timer_seq += 1
        heapq.heappush(m.timers, (timer[0], m.timer_seq, index, -1, 0))

    def _decode(self, data: Any, restored: Restored) -> None:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected an object, not {type(data).__name__}")
        version = data.get("format")
        if version != RECORD_FORMAT:
            raise ValueError(f"unknown record format {version!r} (this engine reads 1)")
        m = self.machine
        by_name = m.plan.by_name
        revoke = data.get("revoke")
        if revoke is not None and m.revoke is None:
            from steadyflow.engine._revoke import RevokeRequest

            m.revoke = RevokeRequest.from_dict(revoke)
        revert = data.get("revert")
        if revert is not None:
            mode = revert["mode"]
            if mode not in _MODES:
                raise ValueError(f"unknown revert mode {mode!r}")
            restored.mode = mode
            restored.controllers = [by_name[n] for n in revert["controllers"] if n in by_name]
            restored.run_failures = [Failure.from_dict(f) for f in revert["run_failures"]]
            restored.revert_failed = [by_name[n] for n in revert["revert_failed"] if n in by_name]
            self.mode = mode
            self.controllers = restored.controllers
        offset = m.clock.monotonic() - time.time()
        for name, element, attempt, due in data.get("timers", ()):
            if name in by_name:
                restored.timers[(by_name[name], int(element))] = (float(due) + offset, int(attempt))
        for name, elements in data.get("element_histories", {}).items():
            if name not in by_name:
                continue
            for element, attempts in elements.items():
                m.maps.histories[(by_name[name], int(element))] = [
                    Attempt(value, {k: Failure.from_dict(f) for k, f in failures.items()})
                    for value, failures in attempts
                ]


def clear(storage: Storage) -> None:
    """Drop any stored record at the next flush (a reset flow starts with none)."""
    storage.flow_meta[RECOVERY_KEY] = None
    storage.touch_flow()
