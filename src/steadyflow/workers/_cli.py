"""``steadyflow worker``: serve a topic's requests with the tasks of some modules.

Imports only the standard library at module level, so the ``steadyflow``
command starts without kombu; the handler reports a missing kombu in one line.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

__all__ = ["build_parser", "handler", "register"]

DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672//"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("modules", nargs="+", metavar="MODULE", help="modules to take tasks from")
    parser.add_argument("--broker", default=DEFAULT_BROKER, help="broker URL (amqp:// or redis://)")
    parser.add_argument("--topic", required=True, help="the topic engines send requests to")
    parser.add_argument(
        "--concurrency", type=int, default=4, help="requests run at once (default 4)"
    )
    parser.add_argument(
        "--prefetch",
        type=int,
        default=1,
        help="requests started ahead of a free runner, so the next starts at once (default 1)",
    )
    parser.add_argument(
        "--heartbeat", type=float, default=1.0, help="seconds between heartbeats (default 1)"
    )
    parser.add_argument("--name", default=None, help="the worker's name (default host.pid.random)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    parser.set_defaults(func=handler)


def register(subparsers: Any) -> None:
    """Add the ``worker`` command to the ``steadyflow`` command's subparsers."""
    parser = subparsers.add_parser(
        "worker",
        help="run tasks sent by workers engines",
        description="Serve requests of a topic, running only the tasks of the given modules.",
    )
    _add_arguments(parser)


def build_parser(prog: str = "python -m steadyflow.workers") -> argparse.ArgumentParser:
    """The standalone parser of ``python -m steadyflow.workers``."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    _add_arguments(parser)
    return parser


def handler(args: argparse.Namespace) -> int:
    """Run a worker until SIGTERM or Ctrl-C; 0 on a clean stop, 2 on a setup error."""
    logging.basicConfig(
        level=str(args.log_level).upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    try:
        import kombu  # noqa: F401 - only to report its absence in one line
    except ImportError:
        print("steadyflow worker needs kombu: pip install 'steadyflow[workers]'", file=sys.stderr)
        return 2
    from steadyflow.workers.worker import Worker

    sys.path.insert(0, "")  # modules of the current directory, as `python -m` finds them
    try:
        worker = Worker(
            args.broker,
            args.topic,
            modules=args.modules,
            name=args.name,
            max_concurrency=args.concurrency,
            prefetch=args.prefetch,
            heartbeat=args.heartbeat,
        )
    except (ImportError, ValueError) as exc:
        print(f"steadyflow worker: {exc}", file=sys.stderr)
        return 2
    try:
        worker.run()
    except KeyboardInterrupt:
        return 0
    return 0
