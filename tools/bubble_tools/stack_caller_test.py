"""The caller of the printed example commands: a token when AUTH_TOKENS is set, and an owner that
token may act for."""

from __future__ import annotations

from bubble_tools.stack_caller import example_caller

TOKEN_A = "token-of-owner-a-0123456789"
TOKEN_ALL = "token-of-every-owner-0123456789"


def test_without_tokens_the_commands_need_none() -> None:
    for unset in (None, "", "  "):
        caller = example_caller(unset)
        assert (caller.token, caller.owner, caller.token_option) == (None, "me", "")


def test_a_token_for_every_owner_is_preferred() -> None:
    assert example_caller(f"{TOKEN_A}=owner-a,{TOKEN_ALL}=*").token == TOKEN_ALL
    bare = example_caller(f"{TOKEN_A}=owner-a,{TOKEN_ALL}")
    assert (bare.token, bare.owner) == (TOKEN_ALL, "me")
    assert bare.token_option == f" --token {TOKEN_ALL}"


def test_a_restricted_token_creates_for_one_of_its_owners() -> None:
    caller = example_caller(f"{TOKEN_A}=owner-b|owner-a")

    assert (caller.token, caller.owner) == (TOKEN_A, "owner-a")
