"""AUTH_TOKENS: each token with the owners it may act for; bare tokens keep acting for every
owner; every problem is reported at once, without echoing a token."""

from __future__ import annotations

import pytest

from bubble_service.principals import EVERY_OWNER, Principal, parse_auth_tokens
from bubble_service.settings import ServiceSettings
from bubble_shared.settings import SettingsError

A = "token-aaaaaaaaaaaaaaaa"
B = "token-bbbbbbbbbbbbbbbb"
C = "token-cccccccccccccccc"


def test_tokens_map_to_their_owners_and_bare_tokens_to_every_owner() -> None:
    tokens, problems = parse_auth_tokens(f"{A}=owner-a|owner-b, {B}=*, {C}")

    assert problems == []
    assert tokens == {
        A: Principal(frozenset({"owner-a", "owner-b"})),
        B: EVERY_OWNER,
        C: EVERY_OWNER,
    }


def test_a_repeated_token_with_the_same_owners_is_harmless() -> None:
    tokens, problems = parse_auth_tokens(f"{A}=owner-a,{A}=owner-a")

    assert (tokens, problems) == ({A: Principal(frozenset({"owner-a"}))}, [])


def test_every_problem_is_reported_and_no_token_is_shown() -> None:
    raw = ",".join(
        [
            "short=owner-a",  # 1: token too short
            f"{A}=",  # 2: no owner after '='
            f"{B}=owner-a||owner-b",  # 3: empty owner ID
            f"{C}=*|owner-a",  # 4: '*' with owners
            f"{A}b={'o' * 129}",  # 5: owner ID too long
            f"{C}=owner-c",  # 6: C again, with other owners than entry 4 would give
            "two words-0123456789",  # 7: a space in the token
            f"{B}==",  # 8: a base64-padded token from before owners
        ]
    )

    with pytest.raises(SettingsError) as raised:
        ServiceSettings.from_env({"AUTH_TOKENS": raw, "GRPC_PORT": "70000"})

    problems = raised.value.problems
    assert [p.split(":")[0] for p in problems if p.startswith("AUTH_TOKENS")] == [
        f"AUTH_TOKENS entry {n}" for n in (1, 2, 3, 4, 5, 7, 8)
    ]
    assert any("GRPC_PORT" in p for p in problems)
    shown = "\n".join(problems)
    for token in (A, B, C, "short", "two words"):
        assert token not in shown
    assert "token=* for every owner" in shown
    assert "strip a base64 padding" in shown


def test_a_token_listed_twice_with_other_owners_is_a_problem() -> None:
    _, problems = parse_auth_tokens(f"{A}=owner-a,{A}=owner-b")

    assert problems == ["AUTH_TOKENS entry 2: repeats an earlier token with other owners"]


def test_principals_decide_owners_and_scopes() -> None:
    restricted = Principal(frozenset({"owner-a", "owner-b"}))

    assert restricted.may_act_for("owner-a")
    assert not restricted.may_act_for("owner-c")
    assert restricted.covers({"owner-a"})
    assert not restricted.covers({"owner-a", "owner-c"})
    assert not restricted.covers(None)  # a batch of every owner
    assert EVERY_OWNER.may_act_for("anyone")
    assert EVERY_OWNER.covers(None)
    assert EVERY_OWNER.scope_key == ""
    assert restricted.scope_key == "owners=owner-a|owner-b"
