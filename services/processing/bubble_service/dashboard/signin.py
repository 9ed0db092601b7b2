"""Who is looking: with AUTH_TOKENS set, the dashboard asks for a token and shows only what it
may see, as the API does (``principals``).

The token is kept in an HttpOnly, SameSite=Strict cookie (Secure over HTTPS), so page scripts
never read it and other sites cannot send it; ``Authorization: Bearer`` works too, for curl. A
page asked for without a valid token redirects to the sign-in form and comes back after it;
anything else (thumbnails, the progress stream) answers 401.
"""

from __future__ import annotations

import urllib.parse

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bubble_service.auth import Authenticator
from bubble_service.principals import EVERY_OWNER, Principal

COOKIE = "bubble_dashboard_token"
COOKIE_MAX_AGE_SECONDS = 12 * 3600
_BEARER = "bearer "


class SignIn:
    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    @property
    def enabled(self) -> bool:
        return self._authenticator.enabled

    def principal(self, request: Request) -> Principal | None:
        """Whom the request acts for; None without a valid token (while tokens are set)."""
        if not self.enabled:
            return EVERY_OWNER
        header = request.headers.get("authorization", "")
        if header.lower().startswith(_BEARER):
            return self._authenticator.match(header[len(_BEARER) :].strip())
        cookie = request.cookies.get(COOKIE)
        return None if cookie is None else self._authenticator.match(cookie)

    def accepts(self, token: str) -> bool:
        return self._authenticator.match(token.strip()) is not None

    @staticmethod
    def remember(response: Response, request: Request, token: str) -> None:
        response.set_cookie(
            COOKIE,
            token.strip(),
            max_age=COOKIE_MAX_AGE_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    @staticmethod
    def forget(response: Response) -> None:
        response.delete_cookie(COOKIE, httponly=True, samesite="strict")


def to_sign_in(request: Request) -> RedirectResponse:
    """The sign-in form, which leads back to this page afterwards."""
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urllib.parse.urlencode({'next': back})}", status_code=303)


def safe_next(target: str) -> str:
    """Where to go after signing in: a path of this dashboard only, never another site."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
