"""The ``steadyflow`` command: inspect, resume and revoke stored flows, and more.

``steadyflow flows list|show|history|graph|resume|revoke`` are built in;
``jobs``, ``conductor``, ``worker`` and ``dashboard`` come from the modules
that implement them (see :mod:`steadyflow.cli._common` for the plug-in
contract and the exit codes). ``python -m steadyflow`` is the same command.

This module imports only the standard library: ``import steadyflow`` never
loads it, and each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TYPE_CHECKING, NoReturn

from steadyflow.cli._commands import PLUGINS, RESERVED
from steadyflow.cli._common import EXIT_USAGE, CliError, exit_code_for

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["build_parser", "main"]

PROG = "steadyflow"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("steadyflow")
    except PackageNotFoundError:  # running from a source tree
        return "unknown"


class _VersionAction(argparse.Action):
    """``--version``; reads the installed version only when asked (importlib.metadata is slow)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print(f"{PROG} {_version()}")
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit code 2), like every error."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see `{self.prog} --help`)", EXIT_USAGE)


def _load_plugin(name: str) -> object | None:
    """The plug-in module, or None when it is not installed."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (name == missing or name.startswith(missing + ".")):
            return None
        raise


def _not_available(args: argparse.Namespace) -> int:
    raise CliError(
        f"`{PROG} {args.command}` is not available in this installation "
        f"(it comes with steadyflow's {args.command} support)",
        EXIT_USAGE,
    )


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every installed plug-in's commands."""
    parser = _Parser(
        prog=PROG,
        description="Inspect, resume and revoke stored steadyflow flows.",
        epilog="Exit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 store, "
        "5 flow busy or not rebuildable, 130 interrupted. See docs/cli.md.",
    )
    parser.add_argument(
        "--version", action=_VersionAction, nargs=0, help="show the version and exit"
    )
    parser.add_argument(
        "--backend",
        metavar="URL",
        help="the store (default: $STEADYFLOW_BACKEND, else sqlite:///steadyflow.db)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error, not one line"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in PLUGINS:
        module = _load_plugin(name)
        if module is not None:
            module.register(subparsers)  # type: ignore[attr-defined]
    for command, summary in RESERVED.items():
        if command not in subparsers.choices:
            stub = subparsers.add_parser(
                command, help=f"{summary} (not available in this installation)"
            )
            stub.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            stub.set_defaults(func=_not_available)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``steadyflow`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns:
        The exit code (see :mod:`steadyflow.cli._common`).
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in arguments
    try:
        parser = build_parser()
        args = parser.parse_args(arguments)
        handler = getattr(args, "func", None)
        if handler is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        code: int = handler(args)
        return code
    except (Exception, KeyboardInterrupt) as error:
        if debug:
            raise
        _report(error)
        return exit_code_for(error)
    finally:
        _flush()


def _report(error: BaseException) -> None:
    if isinstance(error, KeyboardInterrupt):
        message = "interrupted"
    elif isinstance(error, CliError):
        message = error.message
    else:
        from steadyflow.errors import SteadyflowError

        text = str(error) or type(error).__name__
        known = isinstance(error, SteadyflowError | ValueError | TypeError | OSError)
        message = text if known else f"{type(error).__name__}: {text}"
    line = " ".join(message.split())  # one line, whatever the message held
    print(f"{PROG}: error: {line}", file=sys.stderr)


def _flush() -> None:
    # A closed pipe (steadyflow flows list | head) is not an error worth a traceback.
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
