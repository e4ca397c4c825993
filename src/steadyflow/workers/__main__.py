"""``python -m steadyflow.workers --broker URL --topic T module ...``: a worker."""

from __future__ import annotations

import sys

from steadyflow.workers._cli import build_parser, handler


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
