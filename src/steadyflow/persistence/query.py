"""Looking flows up in a store: listing, filtering, paging and counting them.

This is what tools read a store with (the CLI, the dashboard): one page of
flow *summaries* at a time, newest first, never the whole store and never
the atoms of flows nobody looks at. Filters combine (all must hold):

- ``states``: any of these flow states;
- ``name``: a case-insensitive substring of the flow's name, or, when it
  holds ``*`` or ``?``, a glob the whole name must match;
- ``since``: created at or after this time (seconds since the epoch);
- ``id_prefix``: the flow id starts with this.

Paging is by *keyset*, not OFFSET: a page's :attr:`FlowPage.next_cursor`
names the last flow shown, and the next page starts strictly after it in
the order (``created_at`` descending, then uuid descending). Page N costs
what page 1 costs, and flows stored meanwhile never shift a page.

Each backend answers with its own query (an index range scan on the SQL
stores, see the ``ix_steadyflow_flows_*`` indexes); a backend that does not
implement the hooks gets a generic fallback that reads every flow, correct
but slow. A cursor is an opaque string: pass it back unchanged.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from steadyflow.errors import NotFoundError
from steadyflow.persistence.base import _Record
from steadyflow.states import FlowState

if TYPE_CHECKING:
    from steadyflow.persistence.base import Backend
    from steadyflow.persistence.models import FlowDetail

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "FlowFilter",
    "FlowPage",
    "FlowSummary",
    "count_flows",
    "find_flow",
    "list_flows",
]

DEFAULT_LIMIT = 50
"""Flows per page when no ``limit`` is given."""

MAX_LIMIT = 10_000
"""The largest page: a listing is for looking at, not for dumping a store."""

LIKE_ESCAPE = "!"
"""The escape character of the LIKE patterns built here (not a backslash: MySQL
reads backslashes in string literals too)."""

_GLOB_CHARS = frozenset("*?")

# The records below are slotted _Records rather than dataclasses: a CLI process
# that lists flows would otherwise pay for importing dataclasses and inspect.


class FlowFilter(_Record):
    """Which flows a listing or a count covers; every given condition must hold.

    Attributes:
        states: any of these states (empty: any state).
        name: a case-insensitive substring of the name, or a glob (``*``, ``?``)
            the whole name must match.
        since: created at or after this time (seconds since the epoch).
        id_prefix: the flow id starts with this (case-sensitive).
    """

    __slots__ = ("id_prefix", "name", "since", "states")
    _fields = ("states", "name", "since", "id_prefix")

    states: frozenset[FlowState]
    name: str | None
    since: float | None
    id_prefix: str | None

    def __init__(
        self,
        *,
        states: Iterable[FlowState | str] = (),
        name: str | None = None,
        since: float | None = None,
        id_prefix: str | None = None,
    ) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, not {name!r}")
        if since is not None:
            if isinstance(since, bool) or not isinstance(since, int | float):
                raise TypeError(f"since must be seconds since the epoch, not {since!r}")
            since = float(since)
        if id_prefix is not None and not isinstance(id_prefix, str):
            raise TypeError(f"id_prefix must be a string, not {id_prefix!r}")
        put = object.__setattr__
        put(self, "states", frozenset(FlowState(s) for s in states))
        put(self, "name", name)
        put(self, "since", since)
        put(self, "id_prefix", id_prefix)

    @property
    def name_is_glob(self) -> bool:
        """Whether :attr:`name` is a glob (else a substring)."""
        return self.name is not None and not _GLOB_CHARS.isdisjoint(self.name)

    def name_like(self) -> str | None:
        """:attr:`name` as a LIKE pattern over the lower-cased name (escape: ``!``)."""
        if self.name is None:
            return None
        escaped = "".join(
            LIKE_ESCAPE + char if char in "!%_" else char for char in self.name.lower()
        )
        if self.name_is_glob:
            return escaped.replace("*", "%").replace("?", "_")
        return f"%{escaped}%"

    def matches(self, uuid: str, name: str, state: str, created_at: float) -> bool:
        """Whether a flow with these fields passes the filter (for scanning stores)."""
        if self.states and state not in self.states:
            return False
        if self.since is not None and created_at < self.since:
            return False
        if self.id_prefix is not None and not uuid.startswith(self.id_prefix):
            return False
        if self.name is None:
            return True
        pattern = _name_regex(self.name)
        lowered = name.lower()
        found = pattern.match(lowered) if self.name_is_glob else pattern.search(lowered)
        return found is not None


def _name_regex(name: str) -> re.Pattern[str]:
    lowered = name.lower()
    if _GLOB_CHARS.isdisjoint(lowered):
        return re.compile(re.escape(lowered))
    # A glob matches the whole name: anchored at both ends (match() anchors the start).
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in lowered)
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


class FlowSummary(_Record):
    """A flow as a listing shows it: its row without meta or atoms.

    Attributes:
        uuid: the flow detail's id.
        book_uuid: the logbook it belongs to.
        name: the flow's name.
        state: where the flow is in its life.
        created_at: seconds since the epoch.
        updated_at: seconds since the epoch (the last write of the flow row).
        version: how many times the flow row was saved.
    """

    __slots__ = ("book_uuid", "created_at", "name", "state", "updated_at", "uuid", "version")
    _fields = ("uuid", "book_uuid", "name", "state", "created_at", "updated_at", "version")

    uuid: str
    book_uuid: str
    name: str
    state: FlowState
    created_at: float
    updated_at: float
    version: int

    def __init__(
        self,
        *,
        uuid: str,
        book_uuid: str,
        name: str,
        state: FlowState,
        created_at: float,
        updated_at: float,
        version: int,
    ) -> None:
        put = object.__setattr__
        put(self, "uuid", uuid)
        put(self, "book_uuid", book_uuid)
        put(self, "name", name)
        put(self, "state", state)
        put(self, "created_at", created_at)
        put(self, "updated_at", updated_at)
        put(self, "version", version)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> FlowSummary:
        """A summary from a flows-table row, as the database stores read it."""
        return cls(
            uuid=row["uuid"],
            book_uuid=row["book_uuid"],
            name=row["name"],
            state=FlowState(row["state"]),
            created_at=float(row["created_at"]),
            updated_at=float(row["updated_at"]),
            version=int(row["version"]),
        )

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (what ``steadyflow flows list --json`` prints)."""
        return {
            "uuid": self.uuid,
            "book_uuid": self.book_uuid,
            "name": self.name,
            "state": self.state.value,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "version": self.version,
        }


class FlowPage(_Record):
    """One page of a listing.

    Attributes:
        flows: newest first.
        next_cursor: pass it as ``cursor=`` for the next page; None on the last page.
    """

    __slots__ = ("flows", "next_cursor")
    _fields = ("flows", "next_cursor")

    flows: tuple[FlowSummary, ...]
    next_cursor: str | None

    def __init__(self, flows: tuple[FlowSummary, ...], next_cursor: str | None) -> None:
        object.__setattr__(self, "flows", flows)
        object.__setattr__(self, "next_cursor", next_cursor)


def encode_cursor(created_at: float, uuid: str) -> str:
    """The cursor naming the position just after the flow ``(created_at, uuid)``."""
    # repr() of a float round-trips exactly; ids never contain "/".
    return f"{created_at!r}/{uuid}"


def decode_cursor(cursor: str) -> tuple[float, str]:
    """The ``(created_at, uuid)`` a cursor names.

    Raises:
        ValueError: ``cursor`` was not made by :func:`encode_cursor`.
    """
    if not isinstance(cursor, str):
        raise ValueError(f"a cursor must be a string, not {cursor!r}")
    created, sep, uuid = cursor.partition("/")
    try:
        created_at = float(created)
    except ValueError:
        created_at = float("nan")
    if not sep or not uuid or created_at != created_at:
        raise ValueError(f"{cursor!r:.80} is not a cursor returned by list_flows()")
    return created_at, uuid


def _check_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an int from 1 to {MAX_LIMIT}, not {limit!r}")
    return limit


def _states_of(states: Iterable[FlowState | str] | FlowState | str) -> frozenset[FlowState]:
    if isinstance(states, str):
        states = (states,)
    try:
        return frozenset(FlowState(s) for s in states)
    except ValueError as exc:
        known = ", ".join(s.value for s in FlowState)
        raise ValueError(f"{exc}; flow states are: {known}") from None


def list_flows(
    backend: Backend,
    *,
    states: Iterable[FlowState | str] | FlowState | str = (),
    name: str | None = None,
    since: float | None = None,
    id_prefix: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> FlowPage:
    """One page of the flows in ``backend``, newest first (see the module docstring).

    Args:
        backend: the store.
        states: keep flows in any of these states (default: all).
        name: a case-insensitive substring of the name, or a glob with ``*``/``?``.
        since: keep flows created at or after this time (seconds since the epoch).
        id_prefix: keep flows whose id starts with this.
        limit: the most flows on the page (1 to :data:`MAX_LIMIT`).
        cursor: where to start: a previous page's ``next_cursor``.

    Raises:
        ValueError: an unknown state, a bad limit, or a cursor not made here.
        TypeError: a filter of the wrong type.
    """
    where = FlowFilter(states=_states_of(states), name=name, since=since, id_prefix=id_prefix)
    limit = _check_limit(limit)
    after = None if cursor is None else decode_cursor(cursor)
    # One more than asked tells whether there is a next page, without a count.
    rows = backend._list_flow_summaries(where, limit + 1, after)
    flows = tuple(rows[:limit])
    more = len(rows) > limit
    next_cursor = encode_cursor(flows[-1].created_at, flows[-1].uuid) if more else None
    return FlowPage(flows, next_cursor)


def count_flows(
    backend: Backend,
    *,
    name: str | None = None,
    since: float | None = None,
    id_prefix: str | None = None,
) -> dict[FlowState, int]:
    """How many flows match, per state: every state is a key (0 when none).

    Takes the filters of :func:`list_flows` but ``states`` (the answer is by state).
    """
    where = FlowFilter(name=name, since=since, id_prefix=id_prefix)
    counts = backend._count_flow_states(where)
    return {state: int(counts.get(state.value, 0)) for state in FlowState}


def find_flow(backend: Backend, flow_id: str) -> FlowDetail:
    """The flow detail ``flow_id`` (with its atoms), or the one flow whose id starts so.

    An exact id always wins; otherwise a prefix must be unambiguous, so a
    human can type the first few characters of a uuid.

    Raises:
        NotFoundError: no flow has that id or an id starting with it.
        ValueError: the prefix matches several flows (some are named).
    """
    if not isinstance(flow_id, str) or not flow_id:
        raise ValueError(f"a flow id must be a non-empty string, not {flow_id!r}")
    try:
        return backend.get_flow_detail(flow_id)
    except NotFoundError:
        pass
    where = FlowFilter(id_prefix=flow_id)
    found = backend._list_flow_summaries(where, 6, None)
    if not found:
        raise NotFoundError(f"no flow {flow_id} in {backend!r}")
    if len(found) > 1:
        shown = ", ".join(flow.uuid for flow in found[:5])
        more = ", ..." if len(found) > 5 else ""
        raise ValueError(
            f"flow id prefix {flow_id!r} matches several flows ({shown}{more}); type more of it"
        )
    return backend.get_flow_detail(found[0].uuid)


# -- the generic fallback (for backends without their own query) ---------------------------


def newest_first(
    summaries: Iterable[FlowSummary], limit: int, after: tuple[float, str] | None
) -> list[FlowSummary]:
    """The first ``limit`` of ``summaries`` after ``after``, newest first."""
    if after is not None:
        summaries = [s for s in summaries if (s.created_at, s.uuid) < after]
    return heapq.nlargest(limit, summaries, key=lambda s: (s.created_at, s.uuid))


def scan_summaries(
    backend: Backend, where: FlowFilter, limit: int, after: tuple[float, str] | None
) -> list[FlowSummary]:
    """The fallback listing: read every flow, filter and sort here."""
    summaries = [
        summary_of(book.uuid, flow)
        for book in backend.list_logbooks()
        for flow in book.flows.values()
        if where.matches(flow.uuid, flow.name, flow.state.value, flow.created_at)
    ]
    return newest_first(summaries, limit, after)


def scan_counts(backend: Backend, where: FlowFilter) -> dict[str, int]:
    """The fallback count: read every flow and count here."""
    counts: dict[str, int] = {}
    for flow in backend.list_flow_details():
        if where.matches(flow.uuid, flow.name, flow.state.value, flow.created_at):
            counts[flow.state.value] = counts.get(flow.state.value, 0) + 1
    return counts


def summary_of(book_uuid: str, flow: FlowDetail) -> FlowSummary:
    """The summary of a decoded flow detail."""
    return FlowSummary(
        uuid=flow.uuid,
        book_uuid=book_uuid,
        name=flow.name,
        state=flow.state,
        created_at=flow.created_at,
        updated_at=flow.updated_at,
        version=flow.version,
    )
