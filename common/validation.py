"""Check a request against the limits written into its proto contract.

Limits are `(vipro.v1.rules)` field options and `(vipro.v1.oneof_required)` oneof options (see
protos/vipro/v1/options.proto). Checking them from descriptors means every server, for every RPC,
enforces exactly what the contract documents, whether or not the RPC is implemented yet.

Two rules hold for every field without being written: an enum field holds one of its declared
values (proto3 parses any number into an enum field), and a float or double field holds a finite
number unless its rules say `allow_non_finite`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from vipro.v1 import options_pb2


@dataclass(frozen=True)
class Unparsed:
    """Request bytes that do not parse as the method's message.

    A `lenient` deserializer returns it instead of raising: grpc would answer a raising
    deserializer with INTERNAL (UNKNOWN on asyncio servers) before any interceptor ran, so a
    caller without credentials got an internal error and the server logged one. `validate`
    reports it as a violation, so servers answer INVALID_ARGUMENT once the caller is
    authenticated.
    """

    reason: str


def lenient(deserializer: Callable[[bytes], Message] | None) -> Callable[[bytes], object] | None:
    """`deserializer` returning `Unparsed` for bytes it cannot parse (None stays None)."""
    if deserializer is None:
        return None

    def parse(data: bytes) -> object:
        try:
            return deserializer(data)
        except DecodeError as err:
            return Unparsed(str(err))

    return parse


@dataclass(frozen=True)
class Violation:
    """One broken rule: `field` is a dotted path such as "image.inline" or "boxes[2].width"."""

    field: str
    description: str


def validate(message: Message | Unparsed, max_depth: int = 32) -> list[Violation]:
    """Return every rule `message` breaks, recursing into set sub-messages.

    Args:
        message: a request message, or the `Unparsed` bytes of one.
        max_depth: nesting guard; deeper messages are reported as a violation, not recursed.

    Returns:
        The violations, in field order; empty when the message is valid.
    """
    if isinstance(message, Unparsed):
        return [Violation("(request bytes)", f"do not parse: {message.reason}")]
    out: list[Violation] = []
    _check(message, "", out, max_depth)
    return out


def _rules(field: FieldDescriptor) -> options_pb2.FieldRules | None:
    opts = field.GetOptions()
    if opts.HasExtension(options_pb2.rules):
        return opts.Extensions[options_pb2.rules]
    return None


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _check(message: Message, prefix: str, out: list[Violation], depth: int) -> None:
    if depth <= 0:
        out.append(Violation(prefix or "(root)", "message nested too deeply"))
        return
    desc: Descriptor = message.DESCRIPTOR
    for oneof in desc.oneofs:
        if (
            oneof.GetOptions().Extensions[options_pb2.oneof_required]
            and message.WhichOneof(oneof.name) is None
        ):
            choices = ", ".join(f.name for f in oneof.fields)
            out.append(Violation(_join(prefix, oneof.name), f"one of {choices} is required"))
    for field in desc.fields:
        path = _join(prefix, field.name)
        rules = _rules(field)
        if rules is not None:
            _check_rules(message, field, rules, path, out)
        _check_values(message, field, rules, path, out)
        _recurse(message, field, path, out, depth)


_FLOATS = (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE)


def _check_values(
    message: Message,
    field: FieldDescriptor,
    rules: options_pb2.FieldRules | None,
    path: str,
    out: list[Violation],
) -> None:
    """The implicit rules: declared enum values, finite floats."""
    if field.type == FieldDescriptor.TYPE_ENUM:
        check = _enum_problem
    elif field.type in _FLOATS and not (rules and rules.allow_non_finite):
        check = _float_problem
    else:
        return
    value = getattr(message, field.name)
    items = list(value) if field.is_repeated else [value]
    for i, item in enumerate(items):
        if problem := check(field, item):
            out.append(Violation(f"{path}[{i}]" if field.is_repeated else path, problem))


def _enum_problem(field: FieldDescriptor, value: int) -> str:
    if value in field.enum_type.values_by_number:
        return ""
    names = ", ".join(v.name for v in field.enum_type.values if v.number != 0)
    return f"is {value}, not a value of {field.enum_type.name} (one of {names})"


def _float_problem(field: FieldDescriptor, value: float) -> str:
    return "" if math.isfinite(value) else f"is {value}, must be a finite number"


def _is_set(message: Message, field: FieldDescriptor) -> bool:
    value = getattr(message, field.name)
    if field.is_repeated:
        return len(value) > 0
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return message.HasField(field.name)
    if field.has_presence:
        return message.HasField(field.name)
    return bool(value)


def _check_rules(
    message: Message,
    field: FieldDescriptor,
    rules: options_pb2.FieldRules,
    path: str,
    out: list[Violation],
) -> None:
    value = getattr(message, field.name)
    if rules.required and not _is_set(message, field):
        out.append(Violation(path, "is required"))
        return
    if field.is_repeated:
        if rules.max_items and len(value) > rules.max_items:
            out.append(Violation(path, f"has {len(value)} items, at most {rules.max_items}"))
        if field.type == FieldDescriptor.TYPE_MESSAGE or field.message_type is not None:
            return
        values = list(value)
    else:
        values = [value]
    for i, item in enumerate(values):
        item_path = f"{path}[{i}]" if field.is_repeated else path
        _check_scalar(item, rules, item_path, out)


def _check_scalar(value: object, rules: options_pb2.FieldRules, path: str, out: list[Violation]):
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        if rules.HasField("min") and value < rules.min:
            out.append(Violation(path, f"is {value:g}, must be >= {rules.min:g}"))
        if rules.HasField("max") and value > rules.max:
            out.append(Violation(path, f"is {value:g}, must be <= {rules.max:g}"))
    elif isinstance(value, str | bytes) and rules.max_length and len(value) > rules.max_length:
        unit = "bytes" if isinstance(value, bytes) else "characters"
        out.append(Violation(path, f"has {len(value)} {unit}, at most {rules.max_length}"))


def _recurse(
    message: Message, field: FieldDescriptor, path: str, out: list[Violation], depth: int
) -> None:
    if field.type != FieldDescriptor.TYPE_MESSAGE:
        return
    value = getattr(message, field.name)
    if field.message_type.GetOptions().map_entry:
        entry_value = field.message_type.fields_by_name["value"]
        if entry_value.type == FieldDescriptor.TYPE_MESSAGE:
            for key in value:
                _check(value[key], f"{path}[{key!r}]", out, depth - 1)
        return
    if field.is_repeated:
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]", out, depth - 1)
    elif message.HasField(field.name):
        _check(value, path, out, depth - 1)
