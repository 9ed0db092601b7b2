"""Who the dev stack's example commands call as: with AUTH_TOKENS set, a command without
``--token`` is turned away (UNAUTHENTICATED), and one creating an item for an owner its token may
not act for is PERMISSION_DENIED, so the printed commands carry a token and an owner it covers."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from bubble_service.principals import parse_auth_tokens

DEFAULT_OWNER = "me"


@dataclass(frozen=True)
class ExampleCaller:
    token: str | None
    """None: authentication is off, the commands need no token."""
    owner: str

    @property
    def token_option(self) -> str:
        """`` --token TOKEN`` (the CLI's option) when a token is needed, else nothing."""
        return f" --token {shlex.quote(self.token)}" if self.token else ""

    @property
    def dashboard_hint(self) -> str:
        """What the dashboard asks for first, when it asks."""
        return "   (sign in with a token from AUTH_TOKENS)" if self.token else ""


def example_caller(auth_tokens: str | None) -> ExampleCaller:
    """A token for every owner if there is one, else the first token with one of its owners."""
    tokens, _ = parse_auth_tokens(auth_tokens) if auth_tokens and auth_tokens.strip() else ({}, [])
    if not tokens:
        return ExampleCaller(None, DEFAULT_OWNER)
    for token, principal in tokens.items():
        if principal.owners is None:
            return ExampleCaller(token, DEFAULT_OWNER)
    token, principal = next(iter(tokens.items()))
    return ExampleCaller(token, sorted(principal.owners or [DEFAULT_OWNER])[0])
