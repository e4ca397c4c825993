"""The options a board takes in its URL's query: seconds, checked and named in errors."""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import parse_qsl

from steadyflow.errors import InvalidURLError

__all__ = ["seconds_options"]


def seconds_options(url: str, query: str, kind: str, names: Collection[str]) -> dict[str, float]:
    """``query``'s options, each one of ``names`` and a number of seconds.

    Raises:
        InvalidURLError: an option not in ``names``, or one that is not a number;
            the message names the board ``kind`` and the URL.
    """
    given = dict(parse_qsl(query))
    unknown = set(given) - set(names)
    if unknown:
        raise InvalidURLError(f"unknown {kind} board URL option(s): {sorted(unknown)}")
    options: dict[str, float] = {}
    for name, text in given.items():
        try:
            options[name] = float(text)
        except ValueError:
            raise InvalidURLError(f"{name} must be a number of seconds in {url!r}") from None
    return options
