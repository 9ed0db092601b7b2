"""The payload converter every Temporal client and worker of Bubble uses.

Temporal stores workflow and activity inputs and results in the history, and a replay decodes them
again with whatever code is deployed then. Temporal's default converter writes protobuf messages as
``json/protobuf`` and rejects fields it does not know on decode, so removing or renaming a field
would break every workflow that is still open. Binary protobuf is built for exactly that kind of
evolution: unknown fields are kept, renamed fields keep their number. So our messages travel as
``binary/protobuf`` (with the ``messageType`` metadata Temporal's tools expect), ``json/protobuf``
payloads from older writers or other SDKs still decode (tolerating unknown fields), and every other
value keeps Temporal's default encodings.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import google.protobuf.json_format
import google.protobuf.message
import google.protobuf.message_factory
import temporalio.converter
from google.protobuf import descriptor_pool
from temporalio.api.common.v1 import Payload

BINARY_PROTOBUF = "binary/protobuf"
JSON_PROTOBUF = "json/protobuf"
MESSAGE_TYPE_KEY = "messageType"


class PayloadDecodeError(RuntimeError):
    """A payload could not be turned back into a message.

    A ``RuntimeError`` because that is what Temporal's composite converter expects from a failed
    decode (it adds the payload's index to the message).
    """


def _message_class(
    payload: Payload, type_hint: type | None
) -> type[google.protobuf.message.Message]:
    """The class to decode into: the declared type first, else the type named in the payload.

    The declared type (the workflow or activity signature) is the contract of the code running now;
    it wins even over a ``messageType`` written under an older message name, which is what keeps a
    renamed message decodable. Without a declared type, the name is looked up among the messages
    imported so far.
    """
    if isinstance(type_hint, type) and issubclass(type_hint, google.protobuf.message.Message):
        return type_hint
    message_type = payload.metadata.get(MESSAGE_TYPE_KEY, b"").decode()
    if not message_type:
        raise PayloadDecodeError(
            f"protobuf payload has no {MESSAGE_TYPE_KEY!r} metadata and no type hint to decode into"
        )
    try:
        found = descriptor_pool.Default().FindMessageTypeByName(message_type)
    except KeyError as err:
        raise PayloadDecodeError(
            f"unknown protobuf message type {message_type!r}: import the module that defines it"
            " (its _pb2) before decoding"
        ) from err
    message_class: type[google.protobuf.message.Message] = (
        google.protobuf.message_factory.GetMessageClass(found)
    )
    return message_class


class BinaryProtoConverter(temporalio.converter.EncodingPayloadConverter):
    """Writes and reads protobuf messages as ``binary/protobuf``."""

    @property
    def encoding(self) -> str:
        return BINARY_PROTOBUF

    def to_payload(self, value: Any) -> Payload | None:
        if not isinstance(value, google.protobuf.message.Message):
            return None
        return Payload(
            metadata={
                "encoding": BINARY_PROTOBUF.encode(),
                MESSAGE_TYPE_KEY: value.DESCRIPTOR.full_name.encode(),
            },
            # Deterministic, so equal messages are equal payloads (map order included).
            data=value.SerializeToString(deterministic=True),
        )

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        message = _message_class(payload, type_hint)()
        try:
            message.ParseFromString(payload.data)
        except google.protobuf.message.DecodeError as err:
            raise PayloadDecodeError(
                f"payload is not a valid binary {message.DESCRIPTOR.full_name}: {err}"
            ) from err
        return message


class LenientJSONProtoConverter(temporalio.converter.EncodingPayloadConverter):
    """Reads ``json/protobuf`` payloads, ignoring fields the current message no longer has.

    It never writes: ``BinaryProtoConverter`` comes first for every message. It is here for
    histories written before this converter, or by another SDK with Temporal's default.
    """

    @property
    def encoding(self) -> str:
        return JSON_PROTOBUF

    def to_payload(self, value: Any) -> Payload | None:
        return None

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        message = _message_class(payload, type_hint)()
        try:
            return google.protobuf.json_format.Parse(
                payload.data, message, ignore_unknown_fields=True
            )
        except google.protobuf.json_format.ParseError as err:
            raise PayloadDecodeError(
                f"payload is not a valid JSON {message.DESCRIPTOR.full_name}: {err}"
            ) from err


def _encoding_converters() -> tuple[temporalio.converter.EncodingPayloadConverter, ...]:
    """Temporal's default encodings in Temporal's order, with ours in place of its protobuf pair."""
    ours: list[temporalio.converter.EncodingPayloadConverter] = [
        BinaryProtoConverter(),
        LenientJSONProtoConverter(),
    ]
    converters: list[temporalio.converter.EncodingPayloadConverter] = []
    for default in temporalio.converter.DefaultPayloadConverter.default_encoding_payload_converters:
        if default.encoding in (BINARY_PROTOBUF, JSON_PROTOBUF):
            converters.extend(ours)
            ours = []
        else:
            converters.append(default)
    return tuple(converters)


class BubblePayloadConverter(temporalio.converter.CompositePayloadConverter):
    """Temporal's default converter with our protobuf encodings (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(*_encoding_converters())


DATA_CONVERTER = dataclasses.replace(
    temporalio.converter.default(), payload_converter_class=BubblePayloadConverter
)
"""Pass to every ``Client.connect`` and ``WorkflowEnvironment`` of the system."""
