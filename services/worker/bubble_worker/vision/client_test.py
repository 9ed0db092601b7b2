"""The Chat Completions exchange over real HTTP with a stand-in server: what is sent, and how
every kind of failure is sorted (retry, with the server's delay, or not)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bubble_worker.testing.vision_model_server import (
    GOOD_ANSWER,
    Reply,
    VisionModelServer,
    completion,
    error,
    vision_model_server,
)
from bubble_worker.vision.client import (
    MAX_RESPONSE_BYTES,
    ChatCompletions,
    ModelRefusedError,
    ModelUnavailableError,
    UnusableResponseError,
)
from bubble_worker.vision.prompt import messages
from bubble_worker.vision.settings import VisionModelSettings

ASKED = messages(
    owner_title="Sneakers", owner_description="", colors=["red"], image_urls=["data:x"]
)


@pytest.fixture()
def server() -> Iterator[VisionModelServer]:
    with vision_model_server() as running:
        yield running


def client(server: VisionModelServer, **fields: object) -> ChatCompletions:
    fields.setdefault("max_requests_per_second", 1000.0)
    settings = VisionModelSettings(url=server.url, model="llava", **fields)  # type: ignore[arg-type]
    return ChatCompletions(settings)


def test_sends_the_model_messages_schema_and_key(server: VisionModelServer) -> None:
    content = client(server, api_key="sk-test").complete(ASKED)

    assert json.loads(content) == GOOD_ANSWER
    [request] = server.received
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body["model"] == "llava"
    assert request.body["messages"] == ASKED
    assert request.body["response_format"]["type"] == "json_schema"
    assert request.body["temperature"] == 0


def test_a_slow_answer_does_not_hold_back_the_next_request(server: VisionModelServer) -> None:
    # The pacer's turn ends when a request is sent, not when its answer comes back.
    slow = Reply(body=completion(json.dumps(GOOD_ANSWER)).body, delay_seconds=1.5)
    server.replies += [slow, slow]
    model = client(server, max_requests_per_second=20.0)

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda _: model.complete(ASKED), range(2)))

    assert [json.loads(answer) for answer in answers] == [GOOD_ANSWER, GOOD_ANSWER]
    first, second = sorted(request.arrived for request in server.received)
    assert second - first < 1.0


def test_no_key_no_authorization_header(server: VisionModelServer) -> None:
    client(server).complete(ASKED)

    assert "authorization" not in server.received[0].headers


def test_a_server_without_json_schemas_is_asked_with_the_instructions_alone(
    server: VisionModelServer,
) -> None:
    server.replies.append(error(400, "response_format json_schema is not supported"))
    model = client(server)

    assert json.loads(model.complete(ASKED)) == GOOD_ANSWER
    assert json.loads(model.complete(ASKED)) == GOOD_ANSWER

    assert ["response_format" in r.body for r in server.received] == [True, False, False]


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_busy_or_broken_servers_are_worth_retrying(server: VisionModelServer, status: int) -> None:
    server.replies.append(error(status, "busy", **{"Retry-After": "7"}))

    with pytest.raises(ModelUnavailableError, match=f"HTTP {status}") as raised:
        client(server).complete(ASKED)

    assert raised.value.retry_after == 7


def test_retry_after_as_an_http_date(server: VisionModelServer) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    server.replies.append(error(429, "slow down", **{"Retry-After": later}))

    with pytest.raises(ModelUnavailableError) as raised:
        client(server).complete(ASKED)

    assert raised.value.retry_after is not None
    assert 25 <= raised.value.retry_after <= 30


def test_no_retry_after_leaves_the_backoff_to_the_policy(server: VisionModelServer) -> None:
    server.replies.append(error(500))

    with pytest.raises(ModelUnavailableError) as raised:
        client(server).complete(ASKED)

    assert raised.value.retry_after is None


def test_a_timeout_is_worth_retrying(server: VisionModelServer) -> None:
    server.replies.append(Reply(body=b"{}", delay_seconds=3))

    with pytest.raises(ModelUnavailableError, match="did not answer within 1 s"):
        client(server, timeout_seconds=1.0).complete(ASKED)


def test_an_unreachable_server_is_worth_retrying() -> None:
    with vision_model_server() as gone:
        url = gone.url
    model = ChatCompletions(VisionModelSettings(url=url, model="llava"))

    with pytest.raises(ModelUnavailableError, match="could not be reached"):
        model.complete(ASKED)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_client_errors_are_refusals(server: VisionModelServer, status: int) -> None:
    server.replies.append(error(status, "invalid api key"))

    with pytest.raises(ModelRefusedError, match=f"HTTP {status}: .*invalid api key"):
        client(server).complete(ASKED)

    assert len(server.received) == 1


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(body=b"x" * (MAX_RESPONSE_BYTES + 10)), "larger than"),
        (completion("y" * (MAX_RESPONSE_BYTES + 10)), "larger than"),
        (Reply(body=b"<html>Bad gateway</html>"), "not a Chat Completions response"),
        (Reply(body=b'{"choices": []}'), "not a Chat Completions response"),
        (Reply(body=b'{"choices": [{"message": {"content": null}}]}'), "holds no text"),
    ],
)
def test_replies_that_are_no_answer_are_unusable(
    server: VisionModelServer, reply: Reply, reason: str
) -> None:
    server.replies.append(reply)

    with pytest.raises(UnusableResponseError, match=reason):
        client(server).complete(ASKED)


def test_content_parts_are_joined(server: VisionModelServer) -> None:
    parts = [{"type": "text", "text": '{"a": '}, {"type": "text", "text": "1}"}]
    body = {"choices": [{"message": {"content": parts}}]}
    server.replies.append(Reply(body=json.dumps(body).encode()))

    assert client(server).complete(ASKED) == '{"a": 1}'
