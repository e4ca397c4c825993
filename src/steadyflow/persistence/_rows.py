"""Flat rows for the memory and SQL backends: scalars plus serialized text.

A row holds only strings, numbers and None, so a backend can keep it without
copying (nothing in it can be mutated) and a database can store each value in
a text column. Decoding goes through the models' ``from_dict`` so every
backend validates records the same way, and names the record that is bad.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from steadyflow.errors import CorruptRecordError, ResultSerializationError
from steadyflow.persistence.models import FORMAT_VERSION, AtomDetail, FlowDetail, LogBook

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from steadyflow.persistence.serializer import Serializer

__all__ = [
    "ATOM_VALUE_COLUMNS",
    "atom_from_row",
    "atom_to_row",
    "book_from_row",
    "book_to_row",
    "flow_from_row",
    "flow_to_row",
]

Row = dict[str, Any]

ATOM_VALUE_COLUMNS = (
    "result",
    "failure",
    "revert_result",
    "revert_failure",
    "history",
    "meta",
)
"""Atom columns holding serialized text (the others are plain scalars)."""


def _dump(serializer: Serializer, value: Any, what: Callable[[], str]) -> str:
    try:
        return serializer.dumps(value)
    except ResultSerializationError as exc:
        raise ResultSerializationError(f"{what()}: {exc}") from exc


def _load(serializer: Serializer, row: Mapping[str, Any], column: str, what: str) -> Any:
    text = row[column]
    if text is None:
        return None
    try:
        return serializer.loads(text)
    except Exception as exc:
        raise CorruptRecordError(f"{what}: column {column!r}: {exc}") from exc


def atom_to_row(flow_uuid: str, atom: AtomDetail, serializer: Serializer) -> Row:
    """Encode ``atom`` of flow ``flow_uuid`` as a row.

    Raises:
        ResultSerializationError: a value is not serializable; names the atom.
    """
    data = atom.to_dict()

    def what() -> str:
        return f"atom {atom.name!r} of flow {flow_uuid}"

    row: Row = {
        "flow_uuid": flow_uuid,
        "name": atom.name,
        "uuid": atom.uuid,
        "kind": data["kind"],
        "state": data["state"],
        "intention": data["intention"],
        "atom_version": atom.version,
        "created_at": atom.created_at,
        "updated_at": atom.updated_at,
    }
    for column in ATOM_VALUE_COLUMNS:
        value = data[column]
        nullable = column in ("failure", "revert_failure")
        row[column] = None if nullable and value is None else _dump(serializer, value, what)
    return row


def atom_from_row(row: Mapping[str, Any], serializer: Serializer) -> AtomDetail:
    """Decode a row written by :func:`atom_to_row`.

    Raises:
        CorruptRecordError: the row does not decode; names the atom and flow.
    """
    what = f"atom {row.get('name')!r} of flow {row.get('flow_uuid')}"
    data: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "uuid": row["uuid"],
        "name": row["name"],
        "kind": row["kind"],
        "state": row["state"],
        "intention": row["intention"],
        "version": row["atom_version"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
    for column in ATOM_VALUE_COLUMNS:
        data[column] = _load(serializer, row, column, what)
    try:
        return AtomDetail.from_dict(data)
    except CorruptRecordError as exc:
        raise CorruptRecordError(f"{what}: {exc}") from exc


def flow_to_row(book_uuid: str, flow: FlowDetail, serializer: Serializer) -> Row:
    """Encode the flow row (not its atoms) of ``flow`` in logbook ``book_uuid``."""
    return {
        "uuid": flow.uuid,
        "book_uuid": book_uuid,
        "name": flow.name,
        "state": flow.state.value,
        "meta": _dump(serializer, dict(flow.meta), lambda: f"meta of flow {flow.uuid}"),
        "version": flow.version,
        "created_at": flow.created_at,
        "updated_at": flow.updated_at,
    }


def flow_from_row(
    row: Mapping[str, Any], atom_rows: Iterable[Mapping[str, Any]], serializer: Serializer
) -> FlowDetail:
    """Decode a flow row and its atom rows.

    Raises:
        CorruptRecordError: the flow or one of its atoms does not decode.
    """
    what = f"flow detail {row.get('uuid')}"
    atoms = {}
    for atom_row in atom_rows:
        atom = atom_from_row(atom_row, serializer)
        atoms[atom.name] = atom
    try:
        return FlowDetail(
            uuid=str(row["uuid"]),
            name=str(row["name"]),
            state=row["state"],
            meta=_load(serializer, row, "meta", what) or {},
            atoms=atoms,
            version=int(row["version"]),
            created_at=float(row["created_at"]),
            updated_at=float(row["updated_at"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptRecordError(f"{what}: {exc}") from exc


def book_to_row(book: LogBook, serializer: Serializer) -> Row:
    """Encode the logbook row (not its flows)."""
    return {
        "uuid": book.uuid,
        "name": book.name,
        "meta": _dump(serializer, dict(book.meta), lambda: f"meta of logbook {book.uuid}"),
        "created_at": book.created_at,
        "updated_at": book.updated_at,
    }


def book_from_row(
    row: Mapping[str, Any], flows: Iterable[FlowDetail], serializer: Serializer
) -> LogBook:
    """Decode a logbook row, given its already decoded flows.

    Raises:
        CorruptRecordError: the row does not decode.
    """
    what = f"logbook {row.get('uuid')}"
    try:
        return LogBook(
            uuid=str(row["uuid"]),
            name=str(row["name"]),
            meta=_load(serializer, row, "meta", what) or {},
            flows={flow.uuid: flow for flow in flows},
            created_at=float(row["created_at"]),
            updated_at=float(row["updated_at"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptRecordError(f"{what}: {exc}") from exc


def flow_sort_key(flow: FlowDetail) -> tuple[float, str]:
    """The order flows are listed in: oldest first, ties by uuid."""
    return (flow.created_at, flow.uuid)


def book_sort_key(book: LogBook) -> tuple[float, str]:
    """The order logbooks are listed in: oldest first, ties by uuid."""
    return (book.created_at, book.uuid)


def atom_sort_key(atom: AtomDetail) -> tuple[float, str]:
    """The order atoms appear in a flow: oldest first, ties by name."""
    return (atom.created_at, atom.name)
