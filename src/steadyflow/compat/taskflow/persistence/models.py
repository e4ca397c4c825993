"""TaskFlow's persistence records (``taskflow.persistence.models``).

Mutable, as TaskFlow's are: a program builds a :class:`LogBook`, adds
:class:`FlowDetail` objects, and saves the book through a connection. The
layer converts them to and from steadyflow's frozen records in ``_bridge.py``.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator
from typing import Any

__all__ = ["AtomDetail", "FlowDetail", "LogBook", "RetryDetail", "TaskDetail"]


def _new_uuid() -> str:
    return str(uuidlib.uuid4())


class LogBook:
    """A named collection of flow details."""

    def __init__(self, name: str, uuid: str | None = None) -> None:
        self.name = name
        self.uuid = uuid or _new_uuid()
        self.meta: dict[str, Any] = {}
        self.created_at: Any = None
        self.updated_at: Any = None
        self._flows: dict[str, FlowDetail] = {}

    def add(self, fd: FlowDetail) -> None:
        """Add (or replace) a flow detail."""
        self._flows[fd.uuid] = fd

    def find(self, flow_uuid: str) -> FlowDetail | None:
        """The flow detail ``flow_uuid``, or None."""
        return self._flows.get(flow_uuid)

    def __iter__(self) -> Iterator[FlowDetail]:
        return iter(list(self._flows.values()))

    def __len__(self) -> int:
        return len(self._flows)

    def __repr__(self) -> str:
        return f"LogBook: {self.name!r} ({self.uuid})"


class FlowDetail:
    """The stored state of one flow: its state, meta and atom details."""

    def __init__(self, name: str, uuid: str) -> None:
        self.name = name
        self.uuid = uuid
        self.state: str | None = None
        self.meta: dict[str, Any] = {}
        self._atoms: dict[str, AtomDetail] = {}

    def add(self, ad: AtomDetail) -> None:
        """Add (or replace) an atom detail."""
        self._atoms[ad.uuid] = ad

    def find(self, ad_uuid: str) -> AtomDetail | None:
        """The atom detail ``ad_uuid``, or None."""
        return self._atoms.get(ad_uuid)

    def __iter__(self) -> Iterator[AtomDetail]:
        return iter(list(self._atoms.values()))

    def __len__(self) -> int:
        return len(self._atoms)

    def __repr__(self) -> str:
        return f"FlowDetail: {self.name!r} ({self.uuid})"


class AtomDetail:
    """The stored state of one atom: state, intention, results, failure, version."""

    def __init__(self, name: str, uuid: str) -> None:
        self.name = name
        self.uuid = uuid
        self.state: str | None = None
        self.intention = "EXECUTE"
        self.results: Any = None
        self.failure: Any = None
        self.revert_results: Any = None
        self.revert_failure: Any = None
        self.meta: dict[str, Any] = {}
        self.version: Any = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}: {self.name!r} ({self.uuid})"


class TaskDetail(AtomDetail):
    """The stored state of a task."""


class RetryDetail(AtomDetail):
    """The stored state of a retry controller; ``results`` is its history."""

    def __init__(self, name: str, uuid: str) -> None:
        super().__init__(name, uuid)
        self.results = []
