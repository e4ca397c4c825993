"""The records a backend stores: logbooks, flow details and atom details.

They are frozen dataclasses so a record handed to a backend, or read from it,
cannot change under anyone's feet; the engine makes updated copies with
:func:`dataclasses.replace`. Mappings are wrapped read-only at construction.
Each record has a versioned :meth:`to_dict` (JSON-ready, as long as its
values are) and a :meth:`from_dict` that refuses anything it does not
understand with a :class:`~steadyflow.errors.CorruptRecordError` naming the
record, because a half-read record is worse than none.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from steadyflow.errors import CorruptRecordError
from steadyflow.failure import Failure
from steadyflow.states import AtomState, FlowState, Intention

__all__ = [
    "FORMAT_VERSION",
    "AtomDetail",
    "AtomKind",
    "FlowDetail",
    "LogBook",
    "RetryAttempt",
    "is_valid_id",
    "new_uuid",
]

FORMAT_VERSION = 1
"""The version written into every ``to_dict()``; ``from_dict`` reads only this."""

# Flow and logbook ids become file names in the directory backend, so they are
# kept to characters that are safe everywhere.
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY


def new_uuid() -> str:
    """A fresh random id for a logbook, flow detail or atom detail."""
    # Imported here: uuid imports platform, a cost opening a store should not pay.
    import uuid

    return str(uuid.uuid4())


def is_valid_id(value: object) -> bool:
    """Whether ``value`` can be a flow detail or logbook uuid (safe as a file name)."""
    return isinstance(value, str) and _ID_PATTERN.match(value) is not None


def _check_id(value: str, what: str) -> None:
    if not is_valid_id(value):
        raise ValueError(
            f"{what} uuid {value!r} must be 1-64 characters of [A-Za-z0-9._-], "
            "starting with a letter or digit"
        )


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value)) if value else _EMPTY


def _failure_to_dict(failure: Failure | None) -> dict[str, Any] | None:
    return None if failure is None else failure.to_dict()


def _failure_from_dict(data: Any) -> Failure | None:
    return None if data is None else Failure.from_dict(data)


def _check_format(data: Mapping[str, Any], what: str) -> None:
    if not isinstance(data, Mapping):
        raise CorruptRecordError(f"{what}: expected a mapping, got {type(data).__name__}")
    version = data.get("format")
    if version != FORMAT_VERSION:
        raise CorruptRecordError(f"{what}: unknown record format {version!r}")


class AtomKind(StrEnum):
    """Whether an atom detail records a task or a retry controller."""

    TASK = "task"
    RETRY = "retry"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryAttempt:
    """One attempt of a retry controller's scope.

    Attributes:
        value: what the controller returned for this attempt (JSON-able).
        failures: atom name -> the failure that ended the attempt.
    """

    value: Any = None
    failures: Mapping[str, Failure] = field(default_factory=_empty)

    def __post_init__(self) -> None:
        object.__setattr__(self, "failures", _frozen_mapping(self.failures))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (when :attr:`value` is JSON-able)."""
        return {
            "value": self.value,
            "failures": {name: f.to_dict() for name, f in self.failures.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RetryAttempt:
        """Rebuild an attempt written by :meth:`to_dict`.

        Raises:
            CorruptRecordError: ``data`` is not a retry attempt record.
        """
        try:
            failures = {str(k): Failure.from_dict(v) for k, v in data["failures"].items()}
            return cls(value=data["value"], failures=failures)
        except (KeyError, TypeError, AttributeError) as exc:
            raise CorruptRecordError(f"not a retry attempt record: {data!r:.200}") from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class AtomDetail:
    """What is known about one atom of one flow: state, result, failures.

    Attributes:
        uuid: the atom detail's own id.
        name: the atom's name, unique within its flow (the key in
            :attr:`FlowDetail.atoms`).
        kind: task or retry controller.
        state: where the atom is in its life.
        intention: what the engine means to do with it next.
        result: what ``execute`` returned (JSON-able).
        failure: why ``execute`` failed, if it did.
        revert_result: what ``revert`` returned.
        revert_failure: why ``revert`` failed, if it did.
        history: a retry controller's attempts, oldest first.
        version: the atom's own version, to refuse resuming changed code.
        meta: timings, progress, attempt counts (JSON-able).
        created_at: seconds since the epoch, set by the caller.
        updated_at: seconds since the epoch, set by the caller.
    """

    uuid: str = field(default_factory=new_uuid)
    name: str
    kind: AtomKind = AtomKind.TASK
    state: AtomState = AtomState.PENDING
    intention: Intention = Intention.EXECUTE
    result: Any = None
    failure: Failure | None = None
    revert_result: Any = None
    revert_failure: Failure | None = None
    history: tuple[RetryAttempt, ...] = ()
    version: str = "1.0"
    meta: Mapping[str, Any] = field(default_factory=_empty)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "kind", AtomKind(self.kind))
        set_(self, "state", AtomState(self.state))
        set_(self, "intention", Intention(self.intention))
        set_(self, "history", tuple(self.history))
        set_(self, "meta", _frozen_mapping(self.meta))

    def to_dict(self) -> dict[str, Any]:
        """A versioned, JSON-ready dict (when the values are JSON-able)."""
        return {
            "format": FORMAT_VERSION,
            "uuid": self.uuid,
            "name": self.name,
            "kind": self.kind.value,
            "state": self.state.value,
            "intention": self.intention.value,
            "result": self.result,
            "failure": _failure_to_dict(self.failure),
            "revert_result": self.revert_result,
            "revert_failure": _failure_to_dict(self.revert_failure),
            "history": [attempt.to_dict() for attempt in self.history],
            "version": self.version,
            "meta": dict(self.meta),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AtomDetail:
        """Rebuild an atom detail written by :meth:`to_dict`.

        Raises:
            CorruptRecordError: ``data`` is not an atom record this code reads;
                the message names the atom when it can.
        """
        what = f"atom detail {_name_of(data)}"
        _check_format(data, what)
        try:
            return cls(
                uuid=str(data["uuid"]),
                name=str(data["name"]),
                kind=AtomKind(data["kind"]),
                state=AtomState(data["state"]),
                intention=Intention(data["intention"]),
                result=data["result"],
                failure=_failure_from_dict(data["failure"]),
                revert_result=data["revert_result"],
                revert_failure=_failure_from_dict(data["revert_failure"]),
                history=tuple(RetryAttempt.from_dict(a) for a in data["history"]),
                version=str(data["version"]),
                meta=dict(data["meta"]),
                created_at=float(data["created_at"]),
                updated_at=float(data["updated_at"]),
            )
        except (KeyError, TypeError, ValueError, CorruptRecordError) as exc:
            raise CorruptRecordError(f"{what}: {exc!s:.300}") from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowDetail:
    """The stored state of one flow run, and of each of its atoms.

    Attributes:
        uuid: the flow detail's id (what ``flow_id`` names).
        name: the flow's name.
        state: where the flow is in its life.
        meta: what the engine needs to resume (store, factory...), JSON-able.
        atoms: atom name -> its detail.
        version: optimistic-concurrency counter: 0 for a flow never saved,
            bumped by every save of the flow row; see
            :meth:`Backend.save_flow_detail`.
        created_at: seconds since the epoch, set by the caller.
        updated_at: seconds since the epoch, set by the caller.
    """

    uuid: str = field(default_factory=new_uuid)
    name: str
    state: FlowState = FlowState.PENDING
    meta: Mapping[str, Any] = field(default_factory=_empty)
    atoms: Mapping[str, AtomDetail] = field(default_factory=_empty)
    version: int = 0
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        _check_id(self.uuid, "flow detail")
        object.__setattr__(self, "state", FlowState(self.state))
        object.__setattr__(self, "meta", _frozen_mapping(self.meta))
        object.__setattr__(self, "atoms", _frozen_mapping(self.atoms))

    def with_atoms(self, *atoms: AtomDetail) -> FlowDetail:
        """A copy with ``atoms`` added (or replaced, by name)."""
        merged = dict(self.atoms)
        merged.update((atom.name, atom) for atom in atoms)
        return FlowDetail(
            uuid=self.uuid,
            name=self.name,
            state=self.state,
            meta=self.meta,
            atoms=merged,
            version=self.version,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )

    def to_dict(self, *, atoms: bool = True) -> dict[str, Any]:
        """A versioned, JSON-ready dict; ``atoms=False`` leaves the atoms out."""
        data: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "uuid": self.uuid,
            "name": self.name,
            "state": self.state.value,
            "meta": dict(self.meta),
            "version": self.version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if atoms:
            data["atoms"] = {name: atom.to_dict() for name, atom in self.atoms.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FlowDetail:
        """Rebuild a flow detail written by :meth:`to_dict` (atoms optional).

        Raises:
            CorruptRecordError: ``data`` is not a flow record this code reads.
        """
        what = f"flow detail {_uuid_of(data)}"
        _check_format(data, what)
        try:
            atoms = {str(k): AtomDetail.from_dict(v) for k, v in data.get("atoms", {}).items()}
            return cls(
                uuid=str(data["uuid"]),
                name=str(data["name"]),
                state=FlowState(data["state"]),
                meta=dict(data["meta"]),
                atoms=atoms,
                version=int(data["version"]),
                created_at=float(data["created_at"]),
                updated_at=float(data["updated_at"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError, CorruptRecordError) as exc:
            raise CorruptRecordError(f"{what}: {exc!s:.300}") from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class LogBook:
    """A named group of flow details, e.g. everything one job or service ran.

    Attributes:
        uuid: the logbook's id.
        name: a human name.
        meta: anything JSON-able.
        flows: flow detail uuid -> flow detail.
        created_at: seconds since the epoch, set by the caller.
        updated_at: seconds since the epoch, set by the caller.
    """

    uuid: str = field(default_factory=new_uuid)
    name: str
    meta: Mapping[str, Any] = field(default_factory=_empty)
    flows: Mapping[str, FlowDetail] = field(default_factory=_empty)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        _check_id(self.uuid, "logbook")
        object.__setattr__(self, "meta", _frozen_mapping(self.meta))
        object.__setattr__(self, "flows", _frozen_mapping(self.flows))

    def with_flows(self, *flows: FlowDetail) -> LogBook:
        """A copy with ``flows`` added (or replaced, by uuid)."""
        merged = dict(self.flows)
        merged.update((flow.uuid, flow) for flow in flows)
        return LogBook(
            uuid=self.uuid,
            name=self.name,
            meta=self.meta,
            flows=merged,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )

    def to_dict(self, *, flows: bool = True) -> dict[str, Any]:
        """A versioned, JSON-ready dict; ``flows=False`` leaves the flows out."""
        data: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "uuid": self.uuid,
            "name": self.name,
            "meta": dict(self.meta),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if flows:
            data["flows"] = {uuid: flow.to_dict() for uuid, flow in self.flows.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogBook:
        """Rebuild a logbook written by :meth:`to_dict` (flows optional).

        Raises:
            CorruptRecordError: ``data`` is not a logbook record this code reads.
        """
        what = f"logbook {_uuid_of(data)}"
        _check_format(data, what)
        try:
            flows = {str(k): FlowDetail.from_dict(v) for k, v in data.get("flows", {}).items()}
            return cls(
                uuid=str(data["uuid"]),
                name=str(data["name"]),
                meta=dict(data["meta"]),
                flows=flows,
                created_at=float(data["created_at"]),
                updated_at=float(data["updated_at"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError, CorruptRecordError) as exc:
            raise CorruptRecordError(f"{what}: {exc!s:.300}") from exc


def _name_of(data: Any) -> str:
    name = data.get("name") if isinstance(data, Mapping) else None
    return repr(name) if name is not None else "(unnamed)"


def _uuid_of(data: Any) -> str:
    uuid = data.get("uuid") if isinstance(data, Mapping) else None
    return str(uuid) if uuid is not None else "(no uuid)"
