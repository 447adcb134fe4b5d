"""Who may use the app and how: the token off loopback, the Host check, CSRF protection.

- Bound to anything but loopback, the app requires ``ASSISTANT_WEB_TOKEN``: sent as
  ``Authorization: Bearer TOKEN`` or ``X-Assistant-Token``, or typed once into the login form,
  which sets a cookie holding a value derived from the token (never the token itself).
- Without a token the Host header must name loopback, so a page elsewhere cannot reach the app
  through a DNS name rebound to 127.0.0.1.
- A state-changing request (POST) must carry the per-browser CSRF token (double submit: a
  cookie the page echoes in ``X-CSRF-Token``), and its Origin, when sent, must be the app's own.
  Requests authenticated by header are exempt: a cross-site page cannot set headers.
- Another site may link to the app's pages, not make it work: a request the browser marks as
  coming from another site (``Sec-Fetch-Site``) is refused unless it is a plain navigation
  without a query (``/cite?claim=...`` would log an entry and may cost model tokens).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from assistant.errors import UsageError

CSRF_COOKIE = "assistant_csrf"
AUTH_COOKIE = "assistant_auth"
CSRF_HEADER = "x-csrf-token"
TOKEN_HEADER = "x-assistant-token"
#: Paths anyone may fetch: the login form and the files it needs.
OPEN_PATHS = ("/login", "/static/")
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """Refuse to serve on a non-loopback address without a token."""
    if not is_loopback(host) and not token:
        raise UsageError(
            f"Serving on {host} would open the index to the network without a token.",
            hint="Set ASSISTANT_WEB_TOKEN to a long random secret (e.g. 'openssl rand -hex 24'),"
            " or serve on 127.0.0.1 (the default).",
        )


class Guard:
    """The checks above, for one server (the token and a per-process secret)."""

    def __init__(self, token: str | None) -> None:
        self.token = token or None
        self._secret = secrets.token_bytes(32)

    def auth_cookie_value(self) -> str:
        assert self.token is not None
        return hmac.new(self._secret, self.token.encode(), hashlib.sha256).hexdigest()

    def token_matches(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def _header_token(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return request.headers.get(TOKEN_HEADER)

    def authenticated(self, request: Request) -> tuple[bool, bool]:
        """(may use the app, authenticated by a header)."""
        if self.token is None:
            return True, False
        given = self._header_token(request)
        if given is not None:
            return self.token_matches(given), True
        cookie = request.cookies.get(AUTH_COOKIE, "")
        return hmac.compare_digest(cookie.encode(), self.auth_cookie_value().encode()), False

    def host_allowed(self, request: Request) -> bool:
        if self.token is not None:
            return True
        host = urlsplit(f"//{request.headers.get('host', '')}").hostname or ""
        return host.lower() in LOOPBACK_NAMES or is_loopback(host)

    def origin_allowed(self, request: Request) -> bool:
        origin = request.headers.get("origin") or request.headers.get("referer")
        if not origin or origin == "null":
            return origin is None  # a "null" origin (sandboxed frame, file:) is never ours
        seen = urlsplit(origin)
        return seen.netloc.lower() == request.headers.get("host", "").lower()

    @staticmethod
    def fetch_site_allowed(request: Request) -> bool:
        site = request.headers.get("sec-fetch-site")
        if site not in ("cross-site", "same-site"):
            return True  # same-origin, typed or bookmarked ("none"), or an older browser
        navigation = request.headers.get("sec-fetch-mode") == "navigate"
        return request.method in SAFE_METHODS and navigation and not request.url.query

    @staticmethod
    def csrf_ok(request: Request, sent: str | None) -> bool:
        cookie = request.cookies.get(CSRF_COOKIE)
        return bool(cookie and sent and hmac.compare_digest(cookie.encode(), sent.encode()))


def _refuse(request: Request, status: int, message: str, hint: str) -> Response:
    wants_html = "text/html" in request.headers.get("accept", "")
    if status == 401 and wants_html and request.method in SAFE_METHODS:
        return RedirectResponse("/login", status_code=303)
    return JSONResponse({"error": {"message": message, "hint": hint}}, status_code=status)


class GuardMiddleware(BaseHTTPMiddleware):
    def __init__(self, app: object, guard: Guard) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self.guard = guard

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        guard = self.guard
        if not guard.host_allowed(request):
            return _refuse(
                request, 400, "This address is not the app's.",
                "Open the app at http://127.0.0.1:PORT/ (the address 'assistant serve' printed).",
            )  # fmt: skip
        path = request.url.path
        if not guard.fetch_site_allowed(request):
            return _refuse(
                request, 403, "Cross-site request refused.",
                "Open the app's page yourself and ask there.",
            )  # fmt: skip
        allowed, by_header = guard.authenticated(request)
        if not allowed and not path.startswith(OPEN_PATHS):
            return _refuse(
                request, 401, "This app requires its token.",
                "Log in with ASSISTANT_WEB_TOKEN, or send it as 'Authorization: Bearer TOKEN'.",
            )  # fmt: skip
        if request.method not in SAFE_METHODS:
            if not guard.origin_allowed(request):
                return _refuse(
                    request, 403, "Cross-site request refused.",
                    "Use the app's own pages to change anything.",
                )  # fmt: skip
            # The login form checks its own field; a header-authenticated client is no browser.
            sent = request.headers.get(CSRF_HEADER)
            if not by_header and path != "/login" and not guard.csrf_ok(request, sent):
                return _refuse(
                    request, 403, "The request's CSRF token is missing or wrong.",
                    "Reload the page and try again.",
                )  # fmt: skip
        request.state.csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        response = await call_next(request)
        if request.cookies.get(CSRF_COOKIE) != request.state.csrf:
            response.set_cookie(CSRF_COOKIE, request.state.csrf, samesite="strict", httponly=True)
        return response
