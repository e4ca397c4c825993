"""The SQL job board's statements, built with SQLAlchemy Core and rendered once per board.

The board runs them as driver SQL (``exec_driver_sql``) on connections it
keeps checked out: building and compiling a Core statement per call costs
more CPU than the database spends on a claim. Every value is a bound
parameter (``p_*``); literals SQLAlchemy bound itself are kept as defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Double,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql

from steadyflow.jobs._sql_schema import JOBS
from steadyflow.jobs._sqlrows import COLUMNS
from steadyflow.jobs.base import JobState
from steadyflow.persistence.sql._dialects import Family

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect
    from sqlalchemy.sql.elements import ColumnElement

__all__ = ["BoardStatements", "Statement"]

NOW = {
    Family.POSTGRESQL: "CAST(extract(epoch from clock_timestamp()) AS double precision)",
    Family.MYSQL: "UNIX_TIMESTAMP(NOW(6))",
}
"""Seconds since the Unix epoch on the database server's clock."""

_c = JOBS.c
_UNCLAIMED = JobState.UNCLAIMED.value
_CLAIMED = JobState.CLAIMED.value
_INSERTED = [name for name in COLUMNS if name not in ("seq", "created_at")]


@dataclass(frozen=True)
class Statement:
    """One rendered statement and the literal parameters it was rendered with."""

    sql: str
    defaults: dict[str, Any]

    def params(self, **values: Any) -> dict[str, Any]:
        return {**self.defaults, **values}


def _p(name: str) -> Any:
    return bindparam(f"p_{name}")


class BoardStatements:
    """Every statement of the board, rendered for one database family."""

    def __init__(self, family: Family, dialect: Dialect) -> None:
        self.family = family
        self._dialect = dialect
        now: ColumnElement[float] = literal_column(NOW[family], Double)
        ready = and_(_c.state == _UNCLAIMED, _c.not_before <= now)
        lapsed = and_(_c.state == _CLAIMED, _c.expires_at <= now)
        mine = _c.board == _p("board")
        # Narrows the claim index to live jobs: finished ones pile up, never scanned.
        # (Two equalities, not IN: IN renders as a parameter expanded per execution.)
        live = and_(mine, or_(_c.state == _UNCLAIMED, _c.state == _CLAIMED))
        best = (_c.priority.desc(), _c.seq)

        self.by_id = self._render(select(JOBS).where(_c.id == _p("id"), mine))
        self.by_key = self._render(select(JOBS).where(mine, _c.job_key == _p("key")))
        self.by_seq = self._render(select(JOBS).where(_c.seq == _p("seq")))
        self.listing = self._render(select(JOBS).where(mine).order_by(*best))
        self.listing_state = self._render(
            select(JOBS).where(mine, _c.state == _p("state")).order_by(*best)
        )
        self.lock_by_id = self._render(
            select(JOBS).where(_c.id == _p("id"), mine).with_for_update()
        )

        values = {**{name: _p(name) for name in _INSERTED}, "created_at": now}
        if family is Family.POSTGRESQL:
            # One statement: the insert, and the wake-up of waiting claimers when it
            # inserted (NOTIFY is delivered when the statement's transaction commits).
            posted = (
                postgresql.insert(JOBS)
                .values(values)
                .on_conflict_do_nothing(
                    index_elements=["board", "job_key"], index_where=_c.job_key.is_not(None)
                )
                .returning(*JOBS.c)
                .cte("posted")
            )
            self.post = self._render(select(posted, func.pg_notify(_p("channel"), "")))
        else:
            self.post = self._render(insert(JOBS).values(values).returning(*JOBS.c))

        if family is Family.POSTGRESQL:
            # The best ready job and the best lapsed claim, each read from the claim
            # index in its order and stopping at the first row (an OR of the two states
            # reads every live job, and finished ones too when the planner prefers the
            # key index, then sorts); then the better of the two. Each is locked in a
            # CTE of its own (PostgreSQL locks no rows in a UNION); the loser's row
            # stays locked only until this statement commits.
            def first(name: str, *where: ColumnElement[bool]) -> Any:
                found = (
                    select(_c.seq, _c.priority)
                    .where(mine, *where)
                    .order_by(*best)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                    .cte(name)
                )
                return select(found.c.seq, found.c.priority)

            candidates = union_all(
                first("ready", ready),
                first("lapsed", lapsed, _c.owner != _p("owner")),
            ).subquery("candidates")
            pick = (
                select(candidates.c.seq)
                .order_by(candidates.c.priority.desc(), candidates.c.seq)
                .limit(1)
            )
        take = update(JOBS).values(
            state=_CLAIMED,
            owner=_p("owner"),
            expires_at=now + _p("ttl"),
            claims=_c.claims + 1,
            epoch=_c.epoch + 1,
        )
        # PostgreSQL: one statement. MariaDB cannot UPDATE a table its subquery
        # reads (nor UPDATE ... RETURNING): pick, locking the row, then take.
        self.claim: Statement | None = None
        self.renew_returning: Statement | None = None
        if family is Family.POSTGRESQL:
            self.claim = self._render(
                take.where(_c.seq == pick.scalar_subquery()).returning(*JOBS.c)
            )
        # MariaDB: the best ready job and the best lapsed claim, each read in the claim
        # index's order and stopping at its first row (an OR of the two states sorts
        # every live job on each claim); the board takes the better of the two.
        self.picks = tuple(
            self._render(
                select(_c.seq, _c.priority)
                .where(mine, *where)
                .order_by(*best)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            for where in ((ready,), (lapsed, _c.owner != _p("owner")))
        )
        self.take = self._render(take.where(_c.seq == _p("seq")))

        current = and_(
            _c.id == _p("id"),
            _c.state == _CLAIMED,
            _c.epoch == _p("epoch"),
            _c.owner == _p("owner"),
        )
        renew = update(JOBS).where(current).values(expires_at=now + _p("ttl"))
        self.renew = self._render(renew)
        if family is Family.POSTGRESQL:
            self.renew_returning = self._render(renew.returning(_c.expires_at, _c.revoke_reason))
        # Completing a job revoked since its last renewal leaves it claimable, for its revert.
        requeued = and_(_p("state") == JobState.DONE.value, _c.revoke_reason.is_not(None))
        finish = (
            update(JOBS)
            .where(current)
            .values(
                state=case((requeued, _UNCLAIMED), else_=_p("state")),
                not_before=case((requeued, 0.0), else_=_c.not_before),
                reason=_p("reason"),
                owner=None,
                expires_at=None,
            )
        )
        self.finish = self._render(finish)
        self.finish_returning: Statement | None = None
        if family is Family.POSTGRESQL:
            # One statement: the update, and the wake-up of waiting claimers when it
            # left the job claimable (NOTIFY is delivered when the statement commits).
            done = finish.returning(_c.state, _c.revoke_reason).cte("finished")
            self.finish_returning = self._render(
                select(
                    done.c.state,
                    done.c.revoke_reason,
                    case((done.c.state == _UNCLAIMED, func.pg_notify(_p("channel"), ""))),
                )
            )
        self.finish_claim: Statement | None = None
        if family is Family.POSTGRESQL:
            # One statement: complete a claim, then claim the next job for the same owner
            # only when the completion matched (every data-modifying CTE runs, so the claim
            # is guarded on the completion's row). Both see one snapshot: the job just
            # completed is still CLAIMED there and never taken again by this statement.
            ended = finish.returning(_c.state, _c.revoke_reason).cte("ended")
            following = (
                take.where(
                    _c.seq == pick.scalar_subquery(),
                    exists(select(ended.c.state)),
                )
                .returning(*JOBS.c)
                .cte("following")
            )
            # The claimed job comes back as one JSON column (NULL when nothing was
            # claimed): the row's fields as a JSON object, which the driver hands to
            # json.loads (in C). Each column of a result costs the driver and
            # SQLAlchemy more per call than parsing it as JSON does.
            self.finish_claim = self._render(
                select(
                    ended.c.state.label("ended_state"),
                    ended.c.revoke_reason.label("ended_revoke_reason"),
                    case((ended.c.state == _UNCLAIMED, func.pg_notify(_p("channel"), ""))),
                    func.row_to_json(following.table_valued()).label("following"),
                ).select_from(ended.outerjoin(following, true()))
            )
        self.trash = self._render(
            update(JOBS)
            .where(_c.id == _p("id"), mine, or_(_c.state == _UNCLAIMED, lapsed))
            .values(state=JobState.TRASHED.value, reason=_p("reason"), owner=None, expires_at=None)
        )
        self.abandon = self._render(
            update(JOBS)
            .where(current)
            .values(state=_UNCLAIMED, owner=None, expires_at=None, not_before=now + _p("delay"))
        )
        self.revoke = self._render(
            update(JOBS)
            .where(_c.seq == _p("seq"))
            .values(
                state=_p("state"),
                revoke_reason=_p("revoke_reason"),
                reason=_p("reason"),
                not_before=_p("not_before"),
            )
        )
        self.notify = self._render(select(func.pg_notify(_p("channel"), "")))

        self.look = self._render(
            select(
                select(func.count()).where(live, ready).scalar_subquery().label("ready"),
                select(func.count()).where(live, lapsed).scalar_subquery().label("lapsed"),
            )
        )
        self.any_claimable = self._render(select(_c.seq).where(live, or_(ready, lapsed)).limit(1))
        due = case((_c.state == _CLAIMED, _c.expires_at), else_=_c.not_before)
        self.next_deadline = self._render(
            select(func.min(due) - now).where(
                live,
                or_(
                    and_(_c.state == _CLAIMED, _c.expires_at > now),
                    and_(_c.state == _UNCLAIMED, _c.not_before > now),
                ),
            )
        )

    def _render(self, stmt: Any) -> Statement:
        compiled = stmt.compile(dialect=self._dialect)
        defaults = {
            key: value for key, value in compiled.params.items() if not key.startswith("p_")
        }
        return Statement(str(compiled), defaults)
