"""PostgreSQL's fenced atom write: the lease check and the upsert in one statement.

Saving a round's atoms is the hot path of every persisted run. Elsewhere it
is two statements in one transaction (the fence, then the upsert); on
PostgreSQL a data-modifying CTE does both in one: the fence's no-op UPDATE
row-locks the lease exactly as the separate statement did (a takeover waits
for this write), and the INSERT only sees rows when the fence matched. The
rows travel as one JSON document expanded by ``json_populate_recordset``
against the atoms table's own row type, so the statement text is the same
whatever the batch size (one prepared plan) and a batch is one parameter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from steadyflow.persistence.sql._schema import ATOMS, LEASES

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.sql.elements import TextClause

__all__ = ["FencedAtomWrite"]

_KEYS = ("flow_uuid", "name")


class FencedAtomWrite:
    """The one-statement fenced upsert of a flow's atom rows (PostgreSQL only)."""

    def __init__(self) -> None:
        self._statement = _build()

    def __call__(
        self, connection: Connection, flow_uuid: str, epoch: int, rows: Sequence[dict[str, Any]]
    ) -> bool:
        """Write ``rows`` if ``epoch`` is the flow's current lease; False when it is not.

        Nothing is written when the fence fails: the INSERT selects no row.
        """
        document = json.dumps(list(rows), allow_nan=False, separators=(",", ":"))
        result = connection.execute(
            self._statement, {"flow_uuid": flow_uuid, "epoch": epoch, "rows": document}
        )
        return result.rowcount == len(rows)


def _build() -> TextClause:
    columns = [column.name for column in ATOMS.columns]
    names = ", ".join(columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in _KEYS)
    return text(
        f"WITH fence AS ("
        f" UPDATE {LEASES.name} SET epoch = epoch"
        f" WHERE flow_uuid = :flow_uuid AND epoch = :epoch AND owner IS NOT NULL"
        f" RETURNING 1)"
        f" INSERT INTO {ATOMS.name} ({names})"
        f" SELECT {names} FROM json_populate_recordset(NULL::{ATOMS.name}, CAST(:rows AS json))"
        f" WHERE EXISTS (SELECT 1 FROM fence)"
        f" ON CONFLICT ({', '.join(_KEYS)}) DO UPDATE SET {updates}"
    )
