"""Fixtures of the jobs contract suite: every test runs on every board kind in _boards.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from . import _boards

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from steadyflow.jobs import JobBoard


@pytest.fixture(params=_boards.params())
def board_kind(request: pytest.FixtureRequest) -> _boards.BoardKind:
    return _boards.KINDS[request.param]


@pytest.fixture
def board_site(board_kind: _boards.BoardKind, tmp_path: Path) -> Iterator[_boards.BoardSite]:
    """A fresh, isolated board of each kind (its data removed afterwards)."""
    with board_kind.make(tmp_path) as site:
        yield site


@pytest.fixture
def board(board_site: _boards.BoardSite) -> JobBoard:
    return board_site.open()


@pytest.fixture
def open_same_board(board_site: _boards.BoardSite) -> Callable[[], JobBoard]:
    """Opens the fixture's board again, as another connection or process would."""
    return board_site.open
