"""Who may look, and who may act: the bearer token and the CSRF check.

A dashboard started with a token answers only requests that carry it, as
``Authorization: Bearer <token>`` (scripts) or in the cookie a browser gets
by opening ``/?token=<token>`` once. Actions (POST) must also carry a CSRF
token equal to the one in the visitor's cookie (double submit: another site
can make a browser send our cookie, not read it) and, when the browser says
where the request comes from, come from this dashboard's own origin.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "TOKEN_COOKIE",
    "TokenGate",
    "new_csrf_token",
    "same_origin",
    "valid_csrf",
]

TOKEN_COOKIE = "steadyflow_token"
CSRF_COOKIE = "steadyflow_csrf"
CSRF_FIELD = "csrf_token"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def new_csrf_token() -> str:
    """A fresh random CSRF token for a visitor's cookie."""
    return secrets.token_urlsafe(24)


def valid_csrf(cookie: str | None, submitted: str | None) -> bool:
    """Whether the form's token equals the cookie's (compared in constant time)."""
    if not cookie or not submitted:
        return False
    return hmac.compare_digest(cookie.encode(), submitted.encode())


def same_origin(headers: MutableMapping[str, str] | Any) -> bool:
    """Whether the request's Origin (or Referer) names the host it was sent to.

    A request without either header is let through: browsers send Origin on
    every cross-site POST, so its absence means a non-browser client, which
    the CSRF token (and the bearer token) still guard.
    """
    host = headers.get("host")
    origin = headers.get("origin") or headers.get("referer")
    if not origin:
        return True
    if origin == "null" or not host:
        return False
    return urlsplit(origin).netloc == host


def _cookies(raw: str) -> dict[str, str]:
    found = {}
    for part in raw.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            found[name] = value
    return found


class TokenGate:
    """ASGI middleware refusing every request without the bearer token.

    ``/?token=...`` with the right token sets an HttpOnly cookie and redirects
    to the same page without the token in its address (so it does not stay
    in the history or in a Referer).
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        if not token:
            raise ValueError("a dashboard token must be a non-empty string")
        self.app = app
        self._token = token.encode()

    def _matches(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        auth = headers.get("authorization", "")
        bearer = auth[7:] if auth[:7].lower() == "bearer " else None
        cookie = _cookies(headers.get("cookie", "")).get(TOKEN_COOKIE)
        cookie = None if cookie is None else unquote(cookie)
        if self._matches(bearer) or self._matches(cookie):
            await self.app(scope, receive, send)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        offered = next((value for name, value in query if name == "token"), None)
        if offered is not None and self._matches(offered):
            # The same page without the token in its address (history, Referer).
            kept = urlencode([(name, value) for name, value in query if name != "token"])
            target = scope.get("path", "/") + ("?" + kept if kept else "")
            await _redirect_with_cookie(send, target, offered)
            return
        await _refuse(send)


async def _redirect_with_cookie(send: Send, path: str, token: str) -> None:
    cookie = f"{TOKEN_COOKIE}={quote(token, safe='')}; Path=/; HttpOnly; SameSite=Strict"
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", path.encode()), (b"set-cookie", cookie.encode())],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _refuse(send: Send) -> None:
    body = b"401 Unauthorized: this dashboard needs its token (Authorization: Bearer ...)\n"
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"www-authenticate", b'Bearer realm="steadyflow"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
