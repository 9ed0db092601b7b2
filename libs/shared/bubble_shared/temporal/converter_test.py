"""The payload converter: binary protobuf out, every old encoding and message version back in."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import google.protobuf.message
import pytest
import temporalio.converter
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from temporalio.api.common.v1 import Payload

from bubble.processing.v1 import activities_pb2, workflows_pb2
from bubble_shared.temporal.converter import (
    BINARY_PROTOBUF,
    DATA_CONVERTER,
    JSON_PROTOBUF,
    PayloadDecodeError,
)

CONVERTER = DATA_CONVERTER.payload_converter
WORKFLOW_INPUT = workflows_pb2.ItemImageProcessingWorkflowInput
CONTRACT_MODULES = (workflows_pb2, activities_pb2)


def _messages(module: ModuleType) -> list[type[google.protobuf.message.Message]]:
    descriptors = module.DESCRIPTOR.message_types_by_name.values()
    return [message_factory.GetMessageClass(descriptor) for descriptor in descriptors]


def _populate(message: google.protobuf.message.Message, depth: int = 0) -> None:
    """Sets every field (recursively, a few levels deep) so a round trip has something to lose."""
    for field in message.DESCRIPTOR.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            entry = field.message_type.fields_by_name
            getattr(message, field.name)[_scalar(entry["key"])] = _scalar(entry["value"])
        elif field.message_type is not None:
            if depth >= 4:
                continue
            if field.is_repeated:
                _populate(getattr(message, field.name).add(), depth + 1)
            else:
                _populate(getattr(message, field.name), depth + 1)
        elif field.is_repeated:
            getattr(message, field.name).extend([_scalar(field), _scalar(field)])
        else:
            setattr(message, field.name, _scalar(field))


def _scalar(field: Any) -> object:  # a FieldDescriptor, or its upb twin the stubs name apart
    if field.enum_type is not None:
        return field.enum_type.values[-1].number
    values: dict[int, object] = {
        FieldDescriptor.CPPTYPE_STRING: b"\x00\xff" if field.type == field.TYPE_BYTES else "x-é",
        FieldDescriptor.CPPTYPE_BOOL: True,
        FieldDescriptor.CPPTYPE_DOUBLE: 0.25,
        FieldDescriptor.CPPTYPE_FLOAT: 0.5,
    }
    return values.get(field.cpp_type, 7)


@pytest.mark.parametrize(
    "message_class",
    [message for module in CONTRACT_MODULES for message in _messages(module)],
    ids=lambda message_class: message_class.DESCRIPTOR.name,
)
def test_every_workflow_and_activity_message_round_trips(
    message_class: type[google.protobuf.message.Message],
) -> None:
    original = message_class()
    _populate(original)

    [payload] = CONVERTER.to_payloads([original])

    assert payload.metadata["encoding"] == BINARY_PROTOBUF.encode()
    assert payload.metadata["messageType"] == original.DESCRIPTOR.full_name.encode()
    assert CONVERTER.from_payloads([payload], [message_class]) == [original]
    # Without a type hint (a query result read by a client, say) the name finds the class.
    assert CONVERTER.from_payloads([payload]) == [original]


def _old_workflow_input_class() -> type[google.protobuf.message.Message]:
    """``ItemImageProcessingWorkflowInput`` as an older release defined it.

    Field 1 was called ``item_ref`` (since renamed ``item_id``) and field 90 ``legacy_priority``
    (since removed). It lives in its own descriptor pool, as it would in another process.
    """
    old_file = descriptor_pb2.FileDescriptorProto(
        name="bubble/processing/v1/old_workflows.proto",
        package="bubble.processing.v1",
        syntax="proto3",
    )
    old = old_file.message_type.add(name=WORKFLOW_INPUT.DESCRIPTOR.name)
    string, int32 = FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_INT32
    optional = FieldDescriptor.LABEL_OPTIONAL
    old.field.add(name="item_ref", number=1, type=string, label=optional, json_name="itemRef")
    old.field.add(name="request_id", number=2, type=string, label=optional, json_name="requestId")
    old.field.add(
        name="legacy_priority", number=90, type=int32, label=optional, json_name="legacyPriority"
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(old_file)
    descriptor: Descriptor = pool.FindMessageTypeByName(WORKFLOW_INPUT.DESCRIPTOR.full_name)
    old_class: type[google.protobuf.message.Message] = message_factory.GetMessageClass(descriptor)
    return old_class


def test_payload_of_an_older_message_version_decodes_and_keeps_removed_fields() -> None:
    old_class = _old_workflow_input_class()
    # A class built from a descriptor at run time: the stubs cannot know its fields.
    old_message = old_class(item_ref="item-1", request_id="req-1", legacy_priority=7)  # type: ignore[call-arg]
    [payload] = CONVERTER.to_payloads([old_message])

    [decoded] = CONVERTER.from_payloads([payload], [WORKFLOW_INPUT])

    assert isinstance(decoded, WORKFLOW_INPUT)
    assert (decoded.item_id, decoded.request_id) == ("item-1", "req-1")
    # The removed field survives a decode and re-encode: an older worker reading it back loses
    # nothing (binary protobuf keeps unknown fields).
    [reencoded] = CONVERTER.to_payloads([decoded])
    [old_again] = CONVERTER.from_payloads([reencoded], [old_class])
    assert old_again == old_message


def test_json_payload_with_a_removed_field_decodes() -> None:
    payload = Payload(
        metadata={
            "encoding": JSON_PROTOBUF.encode(),
            "messageType": WORKFLOW_INPUT.DESCRIPTOR.full_name.encode(),
        },
        data=json.dumps({"itemId": "item-1", "legacyPriority": 7}).encode(),
    )

    assert CONVERTER.from_payloads([payload], [WORKFLOW_INPUT]) == [
        WORKFLOW_INPUT(item_id="item-1")
    ]
    assert CONVERTER.from_payloads([payload]) == [WORKFLOW_INPUT(item_id="item-1")]
    # Temporal's default converter is why ours exists: it refuses the same history.
    with pytest.raises(RuntimeError):
        temporalio.converter.default().payload_converter.from_payloads([payload], [WORKFLOW_INPUT])


def test_renamed_message_decodes_into_the_declared_type() -> None:
    [payload] = CONVERTER.to_payloads([WORKFLOW_INPUT(item_id="item-1")])
    payload.metadata["messageType"] = b"bubble.processing.v1.ProcessItemWorkflowInput"

    assert CONVERTER.from_payloads([payload], [WORKFLOW_INPUT]) == [
        WORKFLOW_INPUT(item_id="item-1")
    ]


def test_unknown_message_type_without_a_type_hint_names_the_type() -> None:
    [payload] = CONVERTER.to_payloads([WORKFLOW_INPUT(item_id="item-1")])
    payload.metadata["messageType"] = b"bubble.processing.v1.NoSuchMessage"

    with pytest.raises(RuntimeError) as raised:
        CONVERTER.from_payloads([payload])
    assert isinstance(raised.value.__cause__, PayloadDecodeError)
    assert "bubble.processing.v1.NoSuchMessage" in str(raised.value.__cause__)


def test_corrupt_payload_names_the_message_type() -> None:
    [payload] = CONVERTER.to_payloads([WORKFLOW_INPUT(item_id="item-1")])
    payload.data = b"\xff\xff\xff"

    with pytest.raises(RuntimeError) as raised:
        CONVERTER.from_payloads([payload], [WORKFLOW_INPUT])
    assert "ItemImageProcessingWorkflowInput" in str(raised.value.__cause__)


@pytest.mark.parametrize(
    "value", [None, b"\x00raw", "text", 42, {"item_ids": ["a", "b"]}], ids=repr
)
def test_values_that_are_not_messages_keep_temporal_default_encodings(value: object) -> None:
    default = temporalio.converter.default().payload_converter

    assert CONVERTER.to_payloads([value]) == default.to_payloads([value])
    assert CONVERTER.from_payloads(CONVERTER.to_payloads([value])) == [value]


def test_equal_messages_encode_to_equal_payloads() -> None:
    first = workflows_pb2.ItemBatchProcessingWorkflowInput(batch_id="b", item_ids=["1", "2"])
    second = workflows_pb2.ItemBatchProcessingWorkflowInput()
    second.CopyFrom(first)

    assert CONVERTER.to_payloads([first]) == CONVERTER.to_payloads([second])
