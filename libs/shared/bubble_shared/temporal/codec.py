"""Turning our binary protobuf payloads into JSON a person can read, and back.

Temporal's UI and CLI show payloads they cannot decode as base64. A codec server (see
tools:codec-server) answers their ``/decode`` calls with these functions: every
``binary/protobuf`` payload of a message this code knows becomes the same message as
``json/protobuf``, which both tools display as JSON; ``/encode`` does the reverse, so JSON typed
into the UI (a signal, a reset) reaches workflows as the binary they expect. Payloads of other
encodings or unknown types pass through untouched.
"""

from __future__ import annotations

import google.protobuf.json_format
import google.protobuf.message
import google.protobuf.message_factory
from google.protobuf import descriptor_pool
from temporalio.api.common.v1 import Payload, Payloads

# Importing the contracts registers every message in the default descriptor pool.
from bubble.processing.v1 import (  # noqa: F401
    activities_pb2,
    analysis_pb2,
    item_pb2,
    run_pb2,
    service_pb2,
    workflows_pb2,
)
from bubble_shared.temporal.converter import BINARY_PROTOBUF, JSON_PROTOBUF, MESSAGE_TYPE_KEY


def _message_class(payload: Payload) -> type[google.protobuf.message.Message] | None:
    name = payload.metadata.get(MESSAGE_TYPE_KEY, b"").decode()
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(name)
    except KeyError:
        return None
    message_class: type[google.protobuf.message.Message] = (
        google.protobuf.message_factory.GetMessageClass(descriptor)
    )
    return message_class


def _with_encoding(payload: Payload, encoding: str, data: bytes) -> Payload:
    converted = Payload()
    converted.CopyFrom(payload)
    converted.metadata["encoding"] = encoding.encode()
    converted.data = data
    return converted


def decode_payload(payload: Payload) -> Payload:
    """``binary/protobuf`` of a known message as ``json/protobuf``; anything else unchanged."""
    message_class = _message_class(payload)
    if payload.metadata.get("encoding") != BINARY_PROTOBUF.encode() or message_class is None:
        return payload
    message = message_class()
    try:
        message.ParseFromString(payload.data)
    except google.protobuf.message.DecodeError:
        return payload  # show the bytes rather than hide a payload that does not parse
    text = google.protobuf.json_format.MessageToJson(message, indent=None, sort_keys=True)
    return _with_encoding(payload, JSON_PROTOBUF, text.encode())


def encode_payload(payload: Payload) -> Payload:
    """``json/protobuf`` of a known message as ``binary/protobuf``; anything else unchanged."""
    message_class = _message_class(payload)
    if payload.metadata.get("encoding") != JSON_PROTOBUF.encode() or message_class is None:
        return payload
    message = google.protobuf.json_format.Parse(payload.data, message_class())
    return _with_encoding(payload, BINARY_PROTOBUF, message.SerializeToString(deterministic=True))


def decode_payloads(payloads: Payloads) -> Payloads:
    return Payloads(payloads=[decode_payload(payload) for payload in payloads.payloads])


def encode_payloads(payloads: Payloads) -> Payloads:
    return Payloads(payloads=[encode_payload(payload) for payload in payloads.payloads])
