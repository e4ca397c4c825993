"""TaskFlow's persistence records (``taskflow.persistence.models``).

Mutable, as TaskFlow's are: a program builds a :class:`LogBook`, adds
:class:`FlowDetail` objects, and saves the book through a connection. The
layer converts them to and from steadyflow's frozen records in ``_bridge.py``.
"""

from __future__ import annotations

import datetime
import uuid as uuidlib
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["AtomDetail", "FlowDetail", "LogBook", "RetryDetail", "TaskDetail"]


def _new_uuid() -> str:
    return str(uuidlib.uuid4())


def _when(value: Any) -> str:
    if isinstance(value, int | float):
        moment = datetime.datetime.fromtimestamp(value, tz=datetime.UTC).replace(tzinfo=None)
        return moment.isoformat()
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _meta_lines(meta: Mapping[str, Any], pad: str) -> list[str]:
    if not meta:
        return []
    lines = [f"{pad}- metadata:"]
    for key, value in meta.items():
        shown = f"{value * 100:.2f}%" if key == "progress" else repr(value)
        lines.append(f"{pad}  + {key} = {shown}")
    return lines


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

    def pformat(self, indent: int = 0, linesep: str = "\n") -> str:
        """The logbook and everything in it, one field a line, indented by nesting."""
        pad = " " * (indent + 1)
        lines = [f"{' ' * indent}LogBook: '{self.name}'", f"{pad}- uuid = {self.uuid}"]
        lines.extend(_meta_lines(self.meta, pad))
        if self.created_at is not None:
            lines.append(f"{pad}- created_at = {_when(self.created_at)}")
        if self.updated_at is not None:
            lines.append(f"{pad}- updated_at = {_when(self.updated_at)}")
        lines.extend(fd.pformat(indent + 1, linesep) for fd in self)
        return linesep.join(lines)

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

    def update(self, fd: FlowDetail) -> FlowDetail:
        """Take ``fd``'s state, meta and atom details (a fresher copy of this flow)."""
        self.state = fd.state
        self.meta = {**self.meta, **fd.meta}
        self._atoms = {ad.uuid: ad for ad in fd}
        return self

    def find(self, ad_uuid: str) -> AtomDetail | None:
        """The atom detail ``ad_uuid``, or None."""
        return self._atoms.get(ad_uuid)

    def __iter__(self) -> Iterator[AtomDetail]:
        return iter(list(self._atoms.values()))

    def __len__(self) -> int:
        return len(self._atoms)

    def pformat(self, indent: int = 0, linesep: str = "\n") -> str:
        """The flow detail and its atom details, one field a line."""
        pad = " " * (indent + 1)
        lines = [f"{' ' * indent}FlowDetail: '{self.name}'", f"{pad}- uuid = {self.uuid}"]
        lines.append(f"{pad}- state = {self.state}")
        lines.extend(_meta_lines(self.meta, pad))
        lines.extend(ad.pformat(indent + 1, linesep) for ad in self)
        return linesep.join(lines)

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

    def pformat(self, indent: int = 0, linesep: str = "\n") -> str:
        """The atom detail, one field a line."""
        pad = " " * (indent + 1)
        lines = [f"{' ' * indent}{type(self).__name__}: '{self.name}'"]
        lines.append(f"{pad}- uuid = {self.uuid}")
        lines.append(f"{pad}- state = {self.state}")
        lines.append(f"{pad}- version = {self.version}")
        lines.append(f"{pad}- results = {self.results}")
        lines.append(f"{pad}- failure = {self.failure is not None}")
        lines.extend(_meta_lines(self.meta, pad))
        return linesep.join(lines)

    def __repr__(self) -> str:
        return f"{type(self).__name__}: {self.name!r} ({self.uuid})"


class TaskDetail(AtomDetail):
    """The stored state of a task."""


class RetryDetail(AtomDetail):
    """The stored state of a retry controller; ``results`` is its history."""

    def __init__(self, name: str, uuid: str) -> None:
        super().__init__(name, uuid)
        self.results = []
