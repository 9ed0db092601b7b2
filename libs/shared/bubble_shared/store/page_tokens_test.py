"""Page tokens: round trips, and nothing but InvalidPageTokenError for anything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bubble_shared.store.errors import InvalidPageTokenError
from bubble_shared.store.page_tokens import (
    PageCursor,
    decode_page_token,
    encode_page_token,
    filters_fingerprint,
)

FINGERPRINT = filters_fingerprint(owner_id="o", statuses=[1, 4], view=1)
times = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)
)


@given(create_time=times, item_id=st.text(min_size=1, max_size=128))
def test_round_trip(create_time: datetime, item_id: str) -> None:
    cursor = PageCursor(create_time=create_time, item_id=item_id)

    token = encode_page_token(cursor, FINGERPRINT)

    assert decode_page_token(token, FINGERPRINT) == cursor
    assert token.isascii()
    assert all(character.isalnum() or character in "-_" for character in token)


def test_a_cursor_in_another_time_zone_comes_back_in_utc() -> None:
    tokyo = datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=9)))
    token = encode_page_token(PageCursor(create_time=tokyo, item_id="i"), FINGERPRINT)

    decoded = decode_page_token(token, FINGERPRINT)

    assert decoded.create_time == tokyo
    assert decoded.create_time.tzinfo is UTC


@given(token=st.text(max_size=200))
def test_arbitrary_text_is_refused_cleanly(token: str) -> None:
    with pytest.raises(InvalidPageTokenError):
        decode_page_token(token, FINGERPRINT)


@given(position=st.integers(min_value=0), replacement=st.sampled_from("AQgw-_"))
def test_a_changed_character_never_moves_the_cursor(position: int, replacement: str) -> None:
    cursor = PageCursor(datetime(2026, 1, 1, tzinfo=UTC), "item")
    token = encode_page_token(cursor, FINGERPRINT)
    position %= len(token)
    changed = token[:position] + replacement + token[position + 1 :]

    # The last character may carry unused bits, so a change can decode to the same bytes.
    try:
        decoded = decode_page_token(changed, FINGERPRINT)
    except InvalidPageTokenError:
        return
    assert decoded == cursor


def test_fingerprints_ignore_status_order_and_repetition_but_not_values() -> None:
    assert filters_fingerprint(owner_id="o", statuses=[4, 1, 4], view=1) == FINGERPRINT
    assert filters_fingerprint(owner_id="p", statuses=[1, 4], view=1) != FINGERPRINT
    assert filters_fingerprint(owner_id="o", statuses=[1], view=1) != FINGERPRINT
    assert filters_fingerprint(owner_id="o", statuses=[1, 4], view=2) != FINGERPRINT
