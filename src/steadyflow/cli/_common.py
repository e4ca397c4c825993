"""What every ``steadyflow`` subcommand shares: the plug-in contract and its helpers.

Plug-in contract
----------------
A module named in :data:`steadyflow.cli._commands.PLUGINS` exposes::

    def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None

which adds its parser(s) with ``subparsers.add_parser(...)`` and sets, on
each leaf parser, ``parser.set_defaults(func=handler)`` where
``handler(args: argparse.Namespace) -> int`` returns the exit code.

- At module level a plug-in imports only the standard library (and
  ``steadyflow.cli._common``); anything heavy or optional is imported inside
  the handler. When an optional dependency is missing, raise
  ``missing_extra("dashboard", "starlette")``: the user gets one line,
  "the dashboard needs `pip install 'steadyflow[dashboard]'`", exit code 4.
- A plug-in module that is not installed (its own import raises
  ModuleNotFoundError for that very module or a parent package) is
  skipped; if its command name is reserved in ``_commands.RESERVED``, the
  command says "not available in this installation" with exit code 2.
- Commands that read a store call :func:`add_backend_argument` on their
  parser and :func:`open_store` in their handler: ``--backend URL``, else
  ``$STEADYFLOW_BACKEND``, else ``sqlite:///steadyflow.db``; output should
  name the store (:func:`store_label`).
- Errors: raise :class:`CliError` (message, exit code) for anything the
  user can fix; steadyflow errors are mapped to exit codes by ``main``
  (:func:`exit_code_for`). Either way the user sees one line on stderr,
  and a traceback only with ``steadyflow --debug``.

Exit codes (also in docs/cli.md)::

    0  success
    1  the command ran but its subject failed (a resumed flow did not succeed),
       or an unexpected error
    2  usage: bad arguments, a bad --since or URL, an ambiguous id prefix,
       a command not available in this installation
    3  not found: no such flow
    4  the store: cannot be opened, reached or read; a missing driver or extra
    5  the flow cannot be acted on now: another runner holds it, or it cannot
       be rebuilt from its saved factory
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from steadyflow.persistence.base import Backend

__all__ = [
    "BACKEND_ENV",
    "DEFAULT_BACKEND",
    "EXIT_CONFLICT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_STORE",
    "EXIT_USAGE",
    "CliError",
    "add_backend_argument",
    "backend_url",
    "exit_code_for",
    "is_terminal",
    "missing_extra",
    "open_store",
    "parse_since",
    "store_label",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_STORE = 4
EXIT_CONFLICT = 5
EXIT_INTERRUPTED = 130

BACKEND_ENV = "STEADYFLOW_BACKEND"
"""The environment variable naming the store when ``--backend`` is not given."""

DEFAULT_BACKEND = "sqlite:///steadyflow.db"
"""The store used when neither ``--backend`` nor :data:`BACKEND_ENV` names one."""


class CliError(Exception):
    """An error the user can act on: one line on stderr and an exit code.

    Args:
        message: what went wrong and, where it helps, what to do.
        code: the exit code (see the module docstring).
    """

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def missing_extra(extra: str, package: str) -> CliError:
    """The error for a command whose optional dependency is not installed.

    Example: ``raise missing_extra("dashboard", "starlette")``.
    """
    return CliError(
        f"the {extra} needs `pip install 'steadyflow[{extra}]'` ({package} is not installed)",
        EXIT_STORE,
    )


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` the ``--backend URL`` option (also accepted before the command)."""
    parser.add_argument(
        "--backend",
        metavar="URL",
        default=argparse.SUPPRESS,  # keeps a --backend given before the command
        help=f"the store (default: ${BACKEND_ENV}, else {DEFAULT_BACKEND})",
    )


def backend_url(args: argparse.Namespace) -> tuple[str, str]:
    """The store's URL and where it came from (``--backend``, the environment, the default)."""
    given = getattr(args, "backend", None)
    if given:
        return given, "--backend"
    from_env = os.environ.get(BACKEND_ENV)
    if from_env:
        return from_env, f"${BACKEND_ENV}"
    return DEFAULT_BACKEND, "default"


def store_label(args: argparse.Namespace) -> str:
    """The store as output names it: its URL (password masked) and where it came from."""
    from steadyflow.persistence._urls import mask_url

    url, source = backend_url(args)
    return f"{mask_url(url)} ({source})"


def open_store(args: argparse.Namespace, *, must_exist: bool = True) -> Backend:
    """Open the store the arguments name (see :func:`backend_url`).

    Args:
        args: the parsed arguments.
        must_exist: refuse a SQLite file or directory that does not exist
            yet, instead of creating an empty store by looking at it.

    Raises:
        CliError: the URL is bad, or the store does not exist.
        PersistenceError: the store cannot be opened (mapped to exit code 4).
    """
    from steadyflow.persistence._urls import mask_url, open_backend, sqlite_path

    url, source = backend_url(args)
    scheme = url.partition("://")[0].lower()
    if must_exist and scheme in ("sqlite", "dir"):
        path = sqlite_path(url) if scheme == "sqlite" else url.partition("://")[2]
        if path is not None and not os.path.exists(path):
            raise CliError(
                f"no store at {mask_url(url)} ({source}): {path} does not exist; "
                f"pass --backend URL or set ${BACKEND_ENV}",
                EXIT_STORE,
            )
    return open_backend(url)


def exit_code_for(error: BaseException) -> int:
    """The exit code of an error reaching ``main`` (see the module docstring)."""
    from steadyflow import errors

    if isinstance(error, CliError):
        return error.code
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, errors.InvalidURLError):
        return EXIT_USAGE
    if isinstance(error, errors.NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(error, errors.FlowLockedError | errors.IncompatibleFlowError):
        return EXIT_CONFLICT
    if isinstance(error, errors.PersistenceError | errors.BackendUnavailableError):
        return EXIT_STORE
    return EXIT_FAILED


def is_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (stdout by default) is an interactive terminal."""
    stream = sys.stdout if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, *, now: float | None = None) -> float:
    """A time given as an age (``90s``, ``15m``, ``2h``, ``7d``, ``1w``) or ISO 8601 date.

    An ISO time without a zone is local time, like the times the CLI prints.

    Returns:
        Seconds since the epoch.

    Raises:
        CliError: ``text`` is neither (exit code 2).
    """
    import re
    import time
    from datetime import datetime

    cleaned = text.strip()
    age = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w)", cleaned.lower())
    if age is not None:
        current = time.time() if now is None else now
        return current - float(age.group(1)) * _UNITS[age.group(2)]
    try:
        moment = datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"--since {text!r} is not a time: give an age such as 30m, 2h or 7d, "
            "or a date such as 2026-11-30 or 2026-11-30T14:00",
            EXIT_USAGE,
        ) from None
    return moment.timestamp()
