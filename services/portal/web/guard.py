"""What every response and every form of the portal carries: security headers, cookies a script cannot
read and no other site sends, and CSRF tokens bound to the visitor's cookie."""

import hashlib
import re
import hmac
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "session"
# Before sign-in, the sign-in form's token is bound to this cookie instead (no session exists yet).
VISITOR_COOKIE = "visitor"
LANGUAGE_COOKIE = "lang"
CSP = ("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self';"
       " form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def portal_path(controller_id: str, rest: str = "") -> str:
    """The path of a controller's portal (each controller has its own, under its id)."""
    return f"/{quote(controller_id, safe='')}/{rest}"


class CsrfTokens:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def token(self, cookie_secret: str) -> str:
        return hmac.new(self._key, cookie_secret.encode(), hashlib.sha256).hexdigest()

    def valid(self, cookie_secret: str | None, token: str) -> bool:
        # As bytes: compare_digest refuses a str with other than ASCII in it (a forged token may have it).
        return bool(cookie_secret) and hmac.compare_digest(self.token(cookie_secret or "").encode(), token.encode())


class ExportLinks:
    """Links to a person's export that work for a few minutes, and in the session that asked only."""

    LIFETIME_S = 600

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"export-links|" + key).digest()  # apart from the CSRF tokens' key

    def _sig(self, cookie_secret: str, request_id: str, until: int) -> str:
        return hmac.new(self._key, f"{cookie_secret}|{request_id}|{until}".encode(), hashlib.sha256).hexdigest()

    def query(self, cookie_secret: str, request_id: str, now: float) -> str:
        until = int(now) + self.LIFETIME_S
        return f"until={until}&sig={self._sig(cookie_secret, request_id, until)}"

    def valid(self, cookie_secret: str, request_id: str, until: str, sig: str, now: float) -> bool:
        if not re.fullmatch(r"[0-9]{1,12}", until) or int(until) <= now:
            return False
        return hmac.compare_digest(self._sig(cookie_secret, request_id, int(until)).encode(), sig.encode())


def cookie_options(controller_id: str, secure: bool) -> dict:
    """HttpOnly, SameSite=Strict, and for one controller's portal only (its path)."""
    return dict(path=portal_path(controller_id), httponly=True, samesite="strict", secure=secure)


class SecurityHeaders:
    """A CSP without inline script or style, no framing, no referrer, no sniffing, no caching of pages
    that hold a person's data; HSTS where the portal is served over HTTPS."""

    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self._app, self._hsts = app, hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
                            (b"cross-origin-opener-policy", b"same-origin")]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                if self._hsts:
                    headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
                message["headers"] = headers
            await send(message)
        await self._app(scope, receive, with_headers)


class BodyLimit:
    """No form of the portal comes near 64 KiB (the largest is a request's details, 4,000 characters):
    a larger body is refused (413) before it is read into memory. `allowances`: more for the paths
    under a prefix (a notice published in the console: two texts of 20,000 characters, each character
    up to nine bytes once form-encoded)."""

    MOST_BYTES = 64 * 1024

    def __init__(self, app: ASGIApp, allowances: dict[str, int] | None = None) -> None:
        self._app, self._allowances = app, allowances or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        most = next((n for prefix, n in self._allowances.items() if scope["path"].startswith(prefix)), self.MOST_BYTES)
        declared = dict(scope.get("headers", [])).get(b"content-length", b"0")
        if not re.fullmatch(rb"[0-9]{1,12}", declared) or int(declared) > most:
            await _too_large(send)
            return
        received = 0

        async def bounded() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > most:  # sent in chunks without a length, or longer than it said
                raise _TooLarge()
            return message
        try:
            await self._app(scope, bounded, send)
        except _TooLarge:
            await _too_large(send)


class _TooLarge(Exception):
    pass


async def _too_large(send: Send) -> None:
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": b"413: the form is larger than any form of this portal\n"})
