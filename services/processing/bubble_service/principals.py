"""Who a request acts for: the owners its bearer token may act for, or every owner.

AUTH_TOKENS lists the tokens, comma-separated, each with the owners it may act for:

    AUTH_TOKENS=token-for-a-and-b=owner-a|owner-b,admin-token=*,legacy-token

A bare token (no ``=``) acts for every owner, as every token did before owners were configurable,
so existing deployments keep working; ``=*`` says the same explicitly. A token cannot contain
``=``, ``,`` or spaces, an owner ID here not ``=``, ``,`` or ``|``. Parsing reports every problem
at once and never echoes a token (they are secrets; entries are named by position).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from bubble_shared.settings import EnvReader
from bubble_shared.store.models import OWNER_ID_LENGTH

EVERY_OWNER_MARK = "*"
MIN_TOKEN_LENGTH = 16
_VARIABLE = "AUTH_TOKENS"


@dataclass(frozen=True)
class Principal:
    """The owners a caller may act for; ``owners`` None means every owner."""

    owners: frozenset[str] | None = None

    @property
    def restricted(self) -> bool:
        return self.owners is not None

    def may_act_for(self, owner_id: str) -> bool:
        return self.owners is None or owner_id in self.owners

    def covers(self, owners: Collection[str] | None) -> bool:
        """Whether this caller may act for every one of ``owners`` (None: every owner)."""
        if self.owners is None:
            return True
        return owners is not None and self.owners.issuperset(owners)

    @property
    def scope_key(self) -> str:
        """What a restricted caller's requests mean beyond their fields (a selector without
        owner selects only its owners): mixed into idempotency fingerprints. "" for every
        owner, so those fingerprints stay what they were."""
        if self.owners is None:
            return ""
        return "owners=" + "|".join(sorted(self.owners))


EVERY_OWNER = Principal()


def read_auth_tokens(env: EnvReader) -> dict[str, Principal]:
    """AUTH_TOKENS' tokens (none when unset); its problems go to ``env``."""
    raw = env.optional_text(_VARIABLE)
    if raw is None:
        return {}
    tokens, problems = parse_auth_tokens(raw)
    env.problems.extend(problems)
    return tokens


def parse_auth_tokens(raw: str) -> tuple[dict[str, Principal], list[str]]:
    """The principal of each token in an AUTH_TOKENS value, and every problem found."""
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    if not entries:
        return {}, [f"{_VARIABLE} is set but holds no token (comma-separated tokens)"]
    tokens: dict[str, Principal] = {}
    problems: list[str] = []
    for number, entry in enumerate(entries, start=1):
        token, separator, scope = (part.strip() for part in entry.partition("="))
        where = f"{_VARIABLE} entry {number}"
        if len(token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in token):
            problems.append(
                f"{where}: every token must be at least {MIN_TOKEN_LENGTH} characters without "
                "spaces"
            )
        principal, problem = _principal(scope) if separator else (EVERY_OWNER, "")
        if problem:
            problems.append(f"{where}: {problem}")
        elif tokens.get(token, principal) != principal:
            problems.append(f"{where}: repeats an earlier token with other owners")
        else:
            tokens[token] = principal
    return tokens, problems


def _principal(scope: str) -> tuple[Principal, str]:
    """The principal of the part after ``=``: owners separated by ``|``, or ``*``; or a problem."""
    owners = [owner.strip() for owner in scope.split("|")]
    if owners == [EVERY_OWNER_MARK]:
        return EVERY_OWNER, ""
    problem = _owners_problem(scope, owners)
    return (EVERY_OWNER, problem) if problem else (Principal(frozenset(owners)), "")


def _owners_problem(scope: str, owners: list[str]) -> str:
    if not scope:
        return (
            "names no owner after '=': write token=owner-a|owner-b, or token=* for every owner "
            "(a token cannot contain '=')"
        )
    if EVERY_OWNER_MARK in owners:
        return "'*' (every owner) cannot be listed with owner IDs"
    if "" in owners:
        return "has an empty owner ID (owner IDs are separated by '|')"
    if any("=" in owner for owner in owners):
        # Most likely a token with base64 padding, from before tokens had owners.
        return "has '=' in an owner ID: a token cannot contain '=' (strip a base64 padding)"
    if any(len(owner) > OWNER_ID_LENGTH for owner in owners):
        return f"owner IDs are at most {OWNER_ID_LENGTH} characters long"
    return ""
