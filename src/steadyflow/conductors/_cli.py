"""``steadyflow conductor``: run a conductor in this process until SIGTERM or Ctrl-C.

A plug-in of the ``steadyflow`` command (see ``steadyflow.cli``): :func:`register`
adds the ``conductor`` parser. Only the standard library is imported here.
The board comes from ``--board`` (else ``$STEADYFLOW_BOARD``, else
``sqlite:///steadyflow.db``), the flow store from ``--backend`` (else
``$STEADYFLOW_BACKEND``, else ``sqlite:///steadyflow.db``). SIGTERM and
Ctrl-C stop it gracefully (docs/jobs.md, "Stopping a conductor"); it prints
what it did as one line (JSON with ``--json``) when it returns.

Exit codes: 0 stopped, 2 bad input, 4 the board or store cannot be opened,
130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import TYPE_CHECKING

from steadyflow.jobs._cli import JobsCliError, add_board_arguments, open_board_from

if TYPE_CHECKING:
    from steadyflow.conductors import Conductor

__all__ = ["register"]

BACKEND_ENV = "STEADYFLOW_BACKEND"
DEFAULT_BACKEND = "sqlite:///steadyflow.db"

EXIT_OK, EXIT_USAGE, EXIT_STORE, EXIT_INTERRUPTED = 0, 2, 4, 130


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``conductor`` to the ``steadyflow`` command."""
    parser = subparsers.add_parser(
        "conductor", help="run a conductor that claims jobs and runs their flows"
    )
    add_board_arguments(parser)
    parser.add_argument(
        "--backend",
        metavar="URL",
        default=argparse.SUPPRESS,  # keeps a --backend given before the command
        help=f"the flow store (default: ${BACKEND_ENV}, else {DEFAULT_BACKEND})",
    )
    parser.add_argument("--name", help="for logs (default: host and pid)")
    parser.add_argument("--max-concurrent", type=int, default=1, metavar="N")
    parser.add_argument("--ttl", type=float, default=30.0, metavar="SECONDS")
    parser.add_argument("--max-claims", type=int, default=5, metavar="N")
    parser.add_argument("--abandon-delay", type=float, default=5.0, metavar="SECONDS")
    parser.add_argument("--stop-timeout", type=float, default=10.0, metavar="SECONDS")
    parser.add_argument("--engine", choices=("serial", "parallel"), default="serial")
    parser.add_argument(
        "--idle-timeout",
        type=float,
        metavar="SECONDS",
        help="return once no job could be claimed for this long (drain the board)",
    )
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON")
    parser.add_argument("--log-level", default="INFO", type=str.upper)
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from steadyflow.errors import SteadyflowError

    logging.basicConfig(
        level=getattr(logging, args.log_level, logging.INFO),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    backend = getattr(args, "backend", None) or os.environ.get(BACKEND_ENV) or DEFAULT_BACKEND
    try:
        with open_board_from(args) as board:
            conductor = _conductor(board, backend, args)
            with conductor:
                interrupted = _run(conductor, args.idle_timeout)
                _report(conductor, args.json)
    except JobsCliError as exc:
        return _fail(str(exc), exc.code)
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except (SteadyflowError, OSError) as exc:
        return _fail(f"cannot run: {exc}", EXIT_STORE)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def _conductor(board: object, backend: str, args: argparse.Namespace) -> Conductor:
    from steadyflow.conductors import Conductor
    from steadyflow.jobs.base import JobBoard

    assert isinstance(board, JobBoard)
    return Conductor(
        board,
        backend,
        name=args.name,
        max_concurrent=args.max_concurrent,
        ttl=args.ttl,
        max_claims=args.max_claims,
        abandon_delay=args.abandon_delay,
        stop_timeout=args.stop_timeout,
        engine=args.engine,
    )


def _run(conductor: Conductor, idle_timeout: float | None) -> bool:
    """Run until stopped; True when Ctrl-C stopped it (gracefully, all the same)."""
    try:
        conductor.run(idle_timeout=idle_timeout)
    except KeyboardInterrupt:
        return True  # run() handed the running jobs back on its way out
    return False


def _report(conductor: Conductor, as_json: bool) -> None:
    from dataclasses import asdict

    stats = asdict(conductor.statistics())
    if as_json:
        print(json.dumps({"name": conductor.name, **stats}))
        return
    counts = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in stats.items())
    print(f"conductor {conductor.name}: {counts}")


def _fail(message: str, code: int) -> int:
    print(f"steadyflow conductor: {message}", file=sys.stderr)
    return code
