"""One Chat Completions exchange with the model server, its failures sorted for Temporal.

- Worth retrying (:class:`ModelUnavailableError`): no connection, a timeout, 408, 429 and 5xx,
  with the server's Retry-After when it sent one.
- Not worth retrying (:class:`ModelRefusedError`): any other 4xx (a wrong key, model or URL
  stays wrong).
- Not an answer (:class:`UnusableResponseError`): a reply too large to be one, or not in the
  Chat Completions shape. Asking again would cost the same and most likely give the same.

The JSON schema (``response_format``) is sent until a server refuses it with a 400 that names
it; from then on this client asks with the instructions alone, and the answer's checks hold it to
the shape either way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final

import httpx

from bubble_worker.vision.pacing import Pacer, Sent
from bubble_worker.vision.prompt import RESPONSE_FORMAT
from bubble_worker.vision.settings import VisionModelSettings

MAX_RESPONSE_BYTES: Final = 256 * 1024
"""Far more than any answer within the limits takes; more is a runaway generation."""
MAX_ANSWER_TOKENS: Final = 1_000
_RETRYABLE_4XX: Final = frozenset({408, 429})


class ModelUnavailableError(Exception):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelRefusedError(Exception):
    pass


class UnusableResponseError(Exception):
    pass


class ChatCompletions:
    def __init__(self, settings: VisionModelSettings) -> None:
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        self._settings = settings
        self._http = httpx.Client(
            base_url=settings.url.rstrip("/") + "/",
            headers=headers,
            timeout=settings.timeout_seconds,
        )
        self._with_schema = True
        self._pacer = Pacer(settings.max_requests_per_second)

    def close(self) -> None:
        self._http.close()

    def complete(self, messages: Sequence[dict[str, Any]]) -> str:
        """The text of the model's reply."""
        body: dict[str, Any] = {
            "model": self._settings.model,
            "messages": list(messages),
            "temperature": 0,
            "max_tokens": MAX_ANSWER_TOKENS,
        }
        if self._with_schema:
            status, reply = self._post({**body, "response_format": RESPONSE_FORMAT})
            if status == 400 and (b"response_format" in reply or b"json_schema" in reply):
                self._with_schema = False
            else:
                return _reply_text(status, reply)
        return _reply_text(*self._post(body))

    def _post(self, body: dict[str, Any]) -> tuple[int, bytes]:
        """The status and (at most MAX_RESPONSE_BYTES + 1 of) the body of the reply.

        The request is encoded (pictures and all) before its turn, so its turn ends when it is
        sent, not when it is ready to be.
        """
        payload = json.dumps(body, separators=(",", ":")).encode()
        try:
            with (
                self._pacer.turn() as sent,
                self._http.stream(
                    "POST",
                    "chat/completions",
                    content=payload,
                    headers={"Content-Type": "application/json"},
                    extensions={"trace": _when_sent(sent)},
                ) as response,
            ):
                if response.status_code in _RETRYABLE_4XX or response.status_code >= 500:
                    raise ModelUnavailableError(
                        f"the vision model answered HTTP {response.status_code}",
                        retry_after=_retry_after(response.headers.get("Retry-After")),
                    )
                return response.status_code, _read_bounded(response)
        except httpx.TimeoutException:
            raise ModelUnavailableError(
                f"the vision model did not answer within {self._settings.timeout_seconds:g} s"
            ) from None
        except httpx.TransportError as err:
            raise ModelUnavailableError(
                f"the vision model could not be reached: {type(err).__name__}: {err}"
            ) from None


def _when_sent(sent: Sent) -> Callable[[str, dict[str, Any]], None]:
    """An httpx trace hook that calls ``sent`` once the request's body has left (or failed to:
    the server may have had part of it), however long its answer then takes."""

    def trace(event: str, info: dict[str, Any]) -> None:
        # "http11.send_request_body.complete", and the same of HTTP/2 ("http2.").
        if event.endswith((".send_request_body.complete", ".send_request_body.failed")):
            sent()

    return trace


def _read_bounded(response: httpx.Response) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            break
    return bytes(body)


def _reply_text(status: int, reply: bytes) -> str:
    if status >= 400:
        shown = reply[:300].decode("utf-8", "replace").strip()
        raise ModelRefusedError(f"the vision model refused the request with HTTP {status}: {shown}")
    if len(reply) > MAX_RESPONSE_BYTES:
        raise UnusableResponseError(f"the reply is larger than {MAX_RESPONSE_BYTES:,} bytes")
    try:
        content = json.loads(reply)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise UnusableResponseError("the reply is not a Chat Completions response") from None
    if isinstance(content, list):  # some servers answer in content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if not isinstance(content, str):
        raise UnusableResponseError("the reply holds no text")
    return content


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), if it says."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
