"""TaskFlow's ``backends.fetch``: a persistence backend by connection URL, over steadyflow's.

``memory://`` is steadyflow's memory backend, ``dir:``/``file:`` (with
``path``) its directory backend, ``sqlite:`` (and ``postgresql:``,
``mysql:``) its SQL backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steadyflow.compat.taskflow.persistence._bridge import Backend, open_native

__all__ = ["Backend", "fetch"]


def fetch(conf: str | Mapping[str, Any], namespace: str = "", **kwargs: Any) -> Backend:
    """The backend ``conf`` names: a URL, or ``{"connection": URL, "path": ...}``.

    Raises:
        NotFound: steadyflow has no backend for the URL's scheme.
    """
    settings: dict[str, Any] = {"connection": conf} if isinstance(conf, str) else dict(conf)
    return Backend(open_native(settings), settings)
