"""``steadyflow jobs list|show|post|revoke|trash``: a job board from the command line.

A plug-in of the ``steadyflow`` command (see ``steadyflow.cli``): :func:`register`
adds the ``jobs`` parser. Only the standard library is imported here; the
board is opened in the handler. The board comes from ``--board URL``, else
``$STEADYFLOW_BOARD``, else ``sqlite:///steadyflow.db`` (a SQLite board may
share its file with the flow store), and ``--board-name`` (default ``default``).

Output is a table, or JSON with ``--json``. Errors are one line on stderr,
with the exit codes of the ``steadyflow`` command: 2 bad input, 3 no such
job, 4 the board cannot be opened or reached, 5 the job cannot be acted on
in its state.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from steadyflow.jobs.base import Job, JobBoard

__all__ = ["BOARD_ENV", "DEFAULT_BOARD", "add_board_arguments", "open_board_from", "register"]

BOARD_ENV = "STEADYFLOW_BOARD"
"""The environment variable naming the board when ``--board`` is not given."""

DEFAULT_BOARD = "sqlite:///steadyflow.db"

EXIT_OK, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_BOARD, EXIT_CONFLICT = 0, 2, 3, 4, 5

_STATES = ("UNCLAIMED", "CLAIMED", "DONE", "TRASHED")


class JobsCliError(Exception):
    """One line for stderr, and the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``jobs`` and its subcommands to the ``steadyflow`` command."""
    jobs = subparsers.add_parser("jobs", help="post, list and manage jobs on a job board")
    commands = jobs.add_subparsers(dest="jobs_command", metavar="COMMAND", required=True)

    listing = _leaf(commands, "list", "jobs on the board, in claim order", _list)
    listing.add_argument("--state", choices=_STATES, type=str.upper, help="only jobs in STATE")

    show = _leaf(commands, "show", "one job, every field", _show)
    show.add_argument("job_id", metavar="ID")

    post = _leaf(commands, "post", "post a job that runs a flow factory", _post)
    post.add_argument("name", help="what the job is, for people")
    post.add_argument("--factory", metavar="MODULE:FUNCTION", help="builds the job's flow")
    post.add_argument("--flow-id", help="the flow to run (default: new); alone: resume it")
    post.add_argument("--args", type=_json_list, default=[], metavar="JSON", help="a JSON list")
    post.add_argument("--kwargs", type=_json_dict, default={}, metavar="JSON")
    post.add_argument("--store", type=_json_dict, default={}, metavar="JSON")
    post.add_argument("--priority", type=int, default=0, help="larger runs first")
    post.add_argument("--key", help="idempotency key: posting it again returns the same job")

    revoke = _leaf(commands, "revoke", "undo a job's flow, then trash the job", _revoke)
    revoke.add_argument("job_id", metavar="ID")
    revoke.add_argument("--reason", required=True)

    trash = _leaf(commands, "trash", "move a job nobody runs aside (dead letter)", _trash)
    trash.add_argument("job_id", metavar="ID")
    trash.add_argument("--reason", required=True)


def add_board_arguments(parser: argparse.ArgumentParser) -> None:
    """``--board URL`` and ``--board-name NAME`` (shared with ``steadyflow conductor``)."""
    parser.add_argument(
        "--board",
        metavar="URL",
        help=f"the job board (default: ${BOARD_ENV}, else {DEFAULT_BOARD})",
    )
    parser.add_argument("--board-name", default="default", metavar="NAME")


@contextmanager
def open_board_from(args: argparse.Namespace) -> Iterator[JobBoard]:
    """The board the arguments name, closed on exit.

    Raises:
        JobsCliError: a bad URL (2), a board that cannot be opened (4).
    """
    from steadyflow.errors import InvalidURLError, SteadyflowError
    from steadyflow.jobs import open_board

    url = args.board or os.environ.get(BOARD_ENV) or DEFAULT_BOARD
    try:
        board = open_board(url, name=args.board_name)
    except InvalidURLError as exc:
        raise JobsCliError(str(exc), EXIT_USAGE) from exc
    except (SteadyflowError, OSError) as exc:
        raise JobsCliError(f"cannot open the job board {url}: {exc}", EXIT_BOARD) from exc
    with board:
        yield board


def _leaf(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    action: Callable[[JobBoard, argparse.Namespace], int],
) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help_text)
    add_board_arguments(parser)
    parser.add_argument("--json", action="store_true", help="JSON output for scripts")
    parser.set_defaults(func=_handler(action))
    return parser


def _handler(action: Callable[[JobBoard, argparse.Namespace], int]) -> Callable[..., int]:
    def handle(args: argparse.Namespace) -> int:
        from steadyflow.errors import BackendUnavailableError, PersistenceError
        from steadyflow.jobs.base import JobNotFoundError

        try:
            with open_board_from(args) as board:
                return action(board, args)
        except JobsCliError as exc:
            return _fail(str(exc), exc.code)
        except JobNotFoundError as exc:
            return _fail(str(exc), EXIT_NOT_FOUND)
        except ValueError as exc:
            return _fail(str(exc), EXIT_USAGE)
        except (PersistenceError, BackendUnavailableError, OSError) as exc:
            return _fail(f"the job board failed: {exc}", EXIT_BOARD)

    return handle


def _fail(message: str, code: int) -> int:
    print(f"steadyflow jobs: {message}", file=sys.stderr)
    return code


# -- the commands ----------------------------------------------------------------------


def _list(board: JobBoard, args: argparse.Namespace) -> int:
    jobs = list(board.iter_jobs(state=args.state))
    if args.json:
        print(json.dumps([job.to_dict() for job in jobs], indent=2))
        return EXIT_OK
    rows = [
        [job.id, job.name, job.state.value, str(job.claims), job.owner or "", job.reason or ""]
        for job in jobs
    ]
    _table(["ID", "NAME", "STATE", "CLAIMS", "OWNER", "REASON"], rows)
    return EXIT_OK


def _show(board: JobBoard, args: argparse.Namespace) -> int:
    _print_job(board.get(args.job_id), args.json)
    return EXIT_OK


def _post(board: JobBoard, args: argparse.Namespace) -> int:
    job = board.post(
        args.name,
        factory=args.factory,
        args=args.args,
        kwargs=args.kwargs,
        flow_id=args.flow_id,
        store=args.store,
        priority=args.priority,
        key=args.key,
    )
    _print_job(job, args.json)
    return EXIT_OK


def _revoke(board: JobBoard, args: argparse.Namespace) -> int:
    _print_job(board.revoke(args.job_id, args.reason), args.json)
    return EXIT_OK


def _trash(board: JobBoard, args: argparse.Namespace) -> int:
    """Trash a job nobody runs (``JobBoard.trash``): unclaimed, or its claim expired.

    A job whose claim is live is running: refused (exit 5), pointing at
    revoke; a DONE job too. Trashing a trashed job shows it unchanged.
    """
    from steadyflow.errors import ConflictError

    try:
        job = board.trash(args.job_id, args.reason)
    except ConflictError as exc:
        raise JobsCliError(
            f"{exc}; `steadyflow jobs revoke {args.job_id} --reason ...` undoes its flow "
            "and trashes the job",
            EXIT_CONFLICT,
        ) from exc
    _print_job(job, args.json)
    return EXIT_OK


# -- output ----------------------------------------------------------------------------


def _print_job(job: Job, as_json: bool) -> None:
    data = job.to_dict()
    if as_json:
        print(json.dumps(data, indent=2))
        return
    width = max(len(key) for key in data)
    for key, value in data.items():
        shown = json.dumps(value) if isinstance(value, dict | list) else value
        print(f"{key:<{width}}  {'' if shown is None else shown}")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


def _json_list(text: str) -> list[Any]:
    value = _json(text)
    if not isinstance(value, list):
        raise argparse.ArgumentTypeError(f"expected a JSON list, not {text!r}")
    return value


def _json_dict(text: str) -> dict[str, Any]:
    value = _json(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, not {text!r}")
    return value


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc}): {text!r}") from exc
