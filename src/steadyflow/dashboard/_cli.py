"""``steadyflow dashboard``: serve the dashboard over a store.

This module is what the ``steadyflow`` command loads to add its
``dashboard`` subcommand (:func:`register`, see :mod:`steadyflow.cli._common`
for the plug-in contract and the exit codes); ``python -m
steadyflow.dashboard`` runs the same command. It imports only the standard
library and the CLI's helpers: Starlette, Jinja and Uvicorn load when the
command runs, and their absence is one line telling what to install.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Sequence
from typing import Any

from steadyflow.cli._common import (
    EXIT_USAGE,
    CliError,
    add_backend_argument,
    missing_extra,
    open_store,
    store_label,
)

__all__ = ["TOKEN_ENV", "handler", "main", "register"]

TOKEN_ENV = "STEADYFLOW_DASHBOARD_TOKEN"
"""Where the token may come from instead of ``--token`` (not shown by ``ps``)."""

DESCRIPTION = """\
Serve the web dashboard: flows (filters, graph, timeline, live updates) and,
with --board, jobs. Read-only unless --allow-actions is given.
"""


def register(subparsers: Any) -> None:
    """Add the ``dashboard`` subcommand to the ``steadyflow`` command's subparsers."""
    parser = subparsers.add_parser(
        "dashboard", help="serve the web dashboard", description=DESCRIPTION
    )
    add_backend_argument(parser)
    parser.add_argument(
        "--board", metavar="URL", default=None, help="a job board for the jobs page"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8600, help="port (default: %(default)s)")
    parser.add_argument(
        "--allow-actions",
        action="store_true",
        help="enable resume, revoke and re-posting trashed jobs (each POST checked for CSRF)",
    )
    parser.add_argument(
        "--token",
        default=None,
        help=f"require this bearer token on every request (or set ${TOKEN_ENV})",
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=0.25,
        help="seconds between two reads of a shown flow (default: %(default)s)",
    )
    parser.set_defaults(func=handler)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _open_board(url: str) -> Any:
    try:
        from steadyflow.jobs import open_board  # type: ignore[import-not-found, unused-ignore]
    except ModuleNotFoundError:
        raise CliError("job boards are not available in this installation", EXIT_USAGE) from None
    return open_board(url)


def _serve(app: Any, host: str, port: int) -> None:
    """Run ``app`` until Ctrl-C or SIGTERM; open event streams end first, not cut."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            app.state.stop_streams()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2
    )
    Server(config).run()


def handler(args: argparse.Namespace) -> int:
    """Run the dashboard until interrupted; the exit code.

    Raises:
        CliError: a bad option, a missing extra, or a store that does not exist.
    """
    try:
        import uvicorn  # noqa: F401  (checked here, used by _serve)

        from steadyflow.dashboard._app import create_app
    except ModuleNotFoundError as exc:
        raise missing_extra("dashboard", exc.name or "starlette") from None
    if not 0 <= args.port <= 65535:
        raise CliError(f"--port must be from 0 to 65535, not {args.port}", EXIT_USAGE)
    if not args.poll > 0:
        raise CliError(f"--poll must be a positive number of seconds, not {args.poll}", EXIT_USAGE)
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if not _is_loopback(args.host) and token is None:
        print(
            f"steadyflow dashboard: warning: listening on {args.host} without --token",
            file=sys.stderr,
        )
    backend = open_store(args)
    board = None
    try:
        board = _open_board(args.board) if args.board else None
        app = create_app(
            backend, board=board, allow_actions=args.allow_actions, token=token, poll=args.poll
        )
        mode = "actions enabled" if args.allow_actions else "read-only"
        print(
            f"steadyflow dashboard on http://{args.host}:{args.port}/ "
            f"(store {store_label(args)}, {mode})",
            flush=True,
        )
        _serve(app, args.host, args.port)
    finally:
        if board is not None and callable(getattr(board, "close", None)):
            board.close()
        backend.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m steadyflow.dashboard [options]``: ``steadyflow dashboard [options]``."""
    from steadyflow.cli import main as cli_main

    return cli_main(["dashboard", *(sys.argv[1:] if argv is None else argv)])
