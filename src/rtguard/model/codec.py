"""The agent↔server wire format: events and batches to and from JSON-ready dicts.

This is the only module that knows the wire format; it is versioned by ``WIRE_VERSION`` (bump
the major on any change an old server cannot read). Decoding is strict and total: any input,
however hostile, either yields model objects or raises ``CodecError`` with a message that says
which field is wrong. Pure: no I/O, no compression (the transport does gzip), stdlib only.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from rtguard.model.events import (
    PAYLOAD_BY_KIND,
    Container,
    EcsTask,
    Event,
    EventKind,
    Host,
    LineageEntry,
    Payload,
    Process,
)

WIRE_VERSION: Final = 1
MAX_STRING: Final = 16 * 1024
MAX_LIST: Final = 4096
MAX_BATCH_EVENTS: Final = 10_000

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]
JsonDict = dict[str, JsonValue]

_T = TypeVar("_T")


class CodecError(ValueError):
    """Input that is not a valid event or batch; the message names the offending field."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """A batch of events from one agent; ``seq`` increases by one per batch and per agent."""

    agent_id: str
    seq: int
    events: tuple[Event, ...]
    version: int = WIRE_VERSION


# ----------------------------------------------------------------------------- encoding


def _encode_value(value: object) -> JsonValue:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode_dataclass(value)
    if isinstance(value, tuple | list):
        return [_encode_value(v) for v in value]
    if isinstance(value, str):
        return str(value)  # a StrEnum member becomes its plain value
    if isinstance(value, bool | int | float) or value is None:
        return value
    raise TypeError(f"cannot encode {type(value).__name__}")


def _encode_dataclass(obj: object) -> JsonDict:
    out: JsonDict = {}
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING and value == f.default:
            continue
        out[f.name] = _encode_value(value)
    return out


def encode_event(event: Event) -> JsonDict:
    """Return the wire dict of one event (fields equal to their default are left out)."""
    return _encode_dataclass(event)


def encode_batch(batch: Batch) -> JsonDict:
    """Return the wire dict of a batch."""
    return {
        "version": batch.version,
        "agent_id": batch.agent_id,
        "seq": batch.seq,
        "events": [encode_event(e) for e in batch.events],
    }


# ----------------------------------------------------------------------------- decoding


def _check_str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise CodecError(f"{where}: expected a string, got {type(value).__name__}")
    if len(value) > MAX_STRING:
        raise CodecError(f"{where}: string longer than {MAX_STRING} characters")
    return value


def _check_int(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise CodecError(f"{where}: expected an integer, got {type(value).__name__}")
    if not -(2**63) <= value < 2**64:
        raise CodecError(f"{where}: integer out of range")
    return value


def _check_bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise CodecError(f"{where}: expected true or false, got {type(value).__name__}")
    return value


def _check_list(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise CodecError(f"{where}: expected a list, got {type(value).__name__}")
    if len(value) > MAX_LIST:
        raise CodecError(f"{where}: list longer than {MAX_LIST} items")
    return value


def _decode_typed(tp: object, value: object, where: str) -> object:
    origin = typing.get_origin(tp)
    if tp is str:
        return _check_str(value, where)
    if tp is bool:
        return _check_bool(value, where)
    if tp is int:
        return _check_int(value, where)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        if len(args) != 1:
            raise CodecError(f"{where}: ambiguous type")
        return _decode_typed(args[0], value, where)
    if origin is tuple:
        targs = typing.get_args(tp)
        items = _check_list(value, where)
        if len(targs) == 2 and targs[1] is Ellipsis:
            return tuple(_decode_typed(targs[0], v, f"{where}[{i}]") for i, v in enumerate(items))
        if len(items) != len(targs):
            raise CodecError(f"{where}: expected {len(targs)} items")
        return tuple(
            _decode_typed(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(targs, items, strict=True))
        )
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, value, where)
    raise CodecError(f"{where}: unsupported type {tp!r}")


_HINTS: dict[type, dict[str, object]] = {}


def _hints(cls: type) -> dict[str, object]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = hints
    return hints


def _decode_dataclass(cls: type[_T], value: object, where: str) -> _T:
    if not isinstance(value, Mapping):
        raise CodecError(f"{where}: expected an object, got {type(value).__name__}")
    hints = _hints(cls)
    kwargs: dict[str, object] = {}
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in value:
        if key not in names:
            raise CodecError(f"{where}: unknown field {str(key)[:64]!r}")
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise CodecError(f"{where}.{f.name}: missing")
            continue
        kwargs[f.name] = _decode_typed(hints[f.name], value[f.name], f"{where}.{f.name}")
    return cls(**kwargs)


def decode_event(data: object, where: str = "event") -> Event:
    """Decode one wire dict into an ``Event``; raise ``CodecError`` on any invalid input."""
    if not isinstance(data, Mapping):
        raise CodecError(f"{where}: expected an object")
    raw_kind = data.get("kind")
    try:
        kind = EventKind(_check_str(raw_kind, f"{where}.kind"))
    except ValueError as exc:
        if isinstance(exc, CodecError):
            raise
        raise CodecError(f"{where}.kind: unknown event kind {str(raw_kind)[:64]!r}") from None
    payload_cls = PAYLOAD_BY_KIND[kind]
    fields = dict(data)
    raw_payload = fields.pop("payload", {})
    payload: Payload = _decode_dataclass(payload_cls, raw_payload, f"{where}.payload")
    fields["kind"] = kind.value
    event = _decode_event_fields(fields, where)
    return dataclasses.replace(event, kind=kind, payload=payload)


def _decode_event_fields(fields: dict[str, object], where: str) -> Event:
    known = {"kind", "time", "ktime", "host", "process", "lineage", "container", "agent_id"}
    for key in fields:
        if key not in known:
            raise CodecError(f"{where}: unknown field {str(key)[:64]!r}")
    for required in ("time", "host", "process"):
        if required not in fields:
            raise CodecError(f"{where}.{required}: missing")
    lineage_raw = _check_list(fields.get("lineage", []), f"{where}.lineage")
    container_raw = fields.get("container")
    return Event(
        kind=EventKind.PROCESS_EXEC,
        time=_check_int(fields["time"], f"{where}.time"),
        ktime=_check_int(fields.get("ktime", 0), f"{where}.ktime"),
        host=_decode_dataclass(Host, fields["host"], f"{where}.host"),
        process=_decode_dataclass(Process, fields["process"], f"{where}.process"),
        lineage=tuple(
            _decode_dataclass(LineageEntry, v, f"{where}.lineage[{i}]") for i, v in enumerate(lineage_raw)
        ),
        container=None
        if container_raw is None
        else _decode_dataclass(Container, container_raw, f"{where}.container"),
        agent_id=_check_str(fields.get("agent_id", ""), f"{where}.agent_id"),
    )


def decode_batch(data: object) -> Batch:
    """Decode a batch wire dict; raise ``CodecError`` naming the first invalid field."""
    if not isinstance(data, Mapping):
        raise CodecError("batch: expected a JSON object")
    version = _check_int(data.get("version"), "batch.version")
    if version != WIRE_VERSION:
        raise CodecError(f"batch.version: unsupported version {version} (this server reads {WIRE_VERSION})")
    agent_id = _check_str(data.get("agent_id"), "batch.agent_id")
    if not agent_id or len(agent_id) > 128:
        raise CodecError("batch.agent_id: must be 1 to 128 characters")
    seq = _check_int(data.get("seq"), "batch.seq")
    if seq < 0:
        raise CodecError("batch.seq: must not be negative")
    raw_events = data.get("events")
    if not isinstance(raw_events, list):
        raise CodecError("batch.events: expected a list")
    if len(raw_events) > MAX_BATCH_EVENTS:
        raise CodecError(f"batch.events: more than {MAX_BATCH_EVENTS} events")
    events = tuple(decode_event(e, f"batch.events[{i}]") for i, e in enumerate(raw_events))
    return Batch(agent_id=agent_id, seq=seq, events=events, version=version)


__all__ = [
    "MAX_BATCH_EVENTS",
    "WIRE_VERSION",
    "Batch",
    "CodecError",
    "JsonDict",
    "JsonValue",
    "decode_batch",
    "decode_event",
    "encode_batch",
    "encode_event",
]

# Keep the dataclasses referenced so that get_type_hints can resolve forward names.
_RESOLVE: Final = (Container, EcsTask, Host, LineageEntry, Process)
