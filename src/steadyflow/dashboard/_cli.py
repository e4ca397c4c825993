"""``steadyflow dashboard``: serve the dashboard over a store.

This module is what the ``steadyflow`` command loads to add its
``dashboard`` subcommand (:func:`register`), and what ``python -m
steadyflow.dashboard`` runs (:func:`main`). It imports only the standard
library: Starlette, Jinja and Uvicorn load when the command runs, and their
absence is one line telling what to install.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["DEFAULT_BACKEND", "handler", "main", "register"]

DEFAULT_BACKEND = "sqlite:///steadyflow.db"
BACKEND_ENV = "STEADYFLOW_BACKEND"
TOKEN_ENV = "STEADYFLOW_DASHBOARD_TOKEN"
"""Where the token may come from instead of ``--token`` (not shown by ``ps``)."""

EXIT_ERROR = 1
EXIT_USAGE = 2

DESCRIPTION = """\
Serve the web dashboard: flows (filters, graph, timeline, live updates) and,
with --board, jobs. Read-only unless --allow-actions is given.
"""


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        metavar="URL",
        default=None,
        help=f"the store (default: ${BACKEND_ENV}, else {DEFAULT_BACKEND})",
    )
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
        help="enable resume and revoke (each POST checked against CSRF)",
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


def register(subparsers: Any) -> None:
    """Add the ``dashboard`` subcommand to the ``steadyflow`` command's subparsers."""
    parser = subparsers.add_parser(
        "dashboard", help="serve the web dashboard", description=DESCRIPTION
    )
    _add_arguments(parser)


def _fail(message: str, code: int = EXIT_ERROR) -> int:
    print(f"steadyflow dashboard: {message}", file=sys.stderr)
    return code


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
    except ImportError:
        raise LookupError("job boards are not available in this installation") from None
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
    """Run the dashboard until interrupted; the exit code."""
    try:
        import uvicorn  # noqa: F401  (checked here, used by _serve)

        from steadyflow.dashboard._app import create_app
    except ModuleNotFoundError as exc:
        return _fail(f"needs {exc.name}: pip install 'steadyflow[dashboard]'")
    from steadyflow.errors import SteadyflowError
    from steadyflow.persistence import open_backend
    from steadyflow.persistence._urls import mask_url

    if not 0 <= args.port <= 65535:
        return _fail(f"--port must be from 0 to 65535, not {args.port}", EXIT_USAGE)
    if not args.poll > 0:
        return _fail(f"--poll must be a positive number of seconds, not {args.poll}", EXIT_USAGE)
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if not _is_loopback(args.host) and token is None:
        print(
            f"steadyflow dashboard: warning: listening on {args.host} without --token",
            file=sys.stderr,
        )
    url = args.backend or os.environ.get(BACKEND_ENV) or DEFAULT_BACKEND
    try:
        backend = open_backend(url)
    except (SteadyflowError, ValueError, TypeError) as exc:
        return _fail(f"cannot open the store {mask_url(url)}: {exc}")
    try:
        board = _open_board(args.board) if args.board else None
        app = create_app(
            backend, board=board, allow_actions=args.allow_actions, token=token, poll=args.poll
        )
        mode = "actions enabled" if args.allow_actions else "read-only"
        print(
            f"steadyflow dashboard on http://{args.host}:{args.port}/ "
            f"(store {mask_url(url)}, {mode})",
            flush=True,
        )
        _serve(app, args.host, args.port)
    except (SteadyflowError, LookupError, ValueError) as exc:
        return _fail(str(exc))
    finally:
        backend.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m steadyflow.dashboard [options]``; the exit code."""
    parser = argparse.ArgumentParser(prog="python -m steadyflow.dashboard", description=DESCRIPTION)
    _add_arguments(parser)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result
