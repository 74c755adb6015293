"""The agent↔server wire format: events and batches to and from JSON-ready dicts.

This is the only module that knows the wire format; it is versioned by ``WIRE_VERSION`` (bump
it on any change an old server cannot read; servers keep reading every older version). Version
2 sends each shared object (host, process, lineage entry, container) once per batch in
``objects`` and has events refer to it by index; version 1 repeated them inline in every event.
Version 3 is version 2 plus the ``stdio_redirect`` kind (``KIND_SINCE``). Decoding is strict
and total: any input, however hostile, either yields model objects or raises ``CodecError`` with a message that says
which field is wrong. Pure: no I/O, no compression (the transport does gzip); stdlib only, but
for orjson in the agent's batch encoder (``encode_batch_json``: 15x faster than ``json`` on an
event's process, with ``json`` taking over for text orjson refuses).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

import orjson

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

WIRE_VERSION: Final = 3
READ_VERSIONS: Final = frozenset({1, 2, 3})
# Event kinds newer than version 1, with the version that brought each: an agent talking to an
# older server leaves them out (counted) instead of having whole batches refused.
KIND_SINCE: Final = {EventKind.STDIO_REDIRECT: 3}
MAX_STRING: Final = 16 * 1024
MAX_LIST: Final = 4096
MAX_BATCH_EVENTS: Final = 10_000
MAX_BATCH_OBJECTS: Final = 4 * MAX_BATCH_EVENTS

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


_Spec = tuple[tuple[str, object, str, object], ...]
_SPECS: dict[type, _Spec] = {}


def _spec(cls: type) -> _Spec:
    """Per-class encoding plan: (field, default, how, sub-plan class), built once per class."""
    spec = _SPECS.get(cls)
    if spec is not None:
        return spec
    hints = typing.get_type_hints(cls)
    rows: list[tuple[str, object, str, object]] = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else _NO_DEFAULT
        tp = hints[f.name]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            rows.append((f.name, default, "obj", tp))
        elif (
            typing.get_origin(tp) in (types.UnionType, typing.Union)
            and len(args) == 1
            and dataclasses.is_dataclass(args[0])
        ):
            rows.append((f.name, default, "obj", args[0]))
        elif typing.get_origin(tp) in (types.UnionType, typing.Union) and len(args) > 1:
            rows.append((f.name, default, "any", None))
        elif typing.get_origin(tp) is tuple:
            targs = typing.get_args(tp)
            inner = targs[0] if targs else None
            how = "objs" if isinstance(inner, type) and dataclasses.is_dataclass(inner) else "list"
            rows.append((f.name, default, how, inner))
        else:
            rows.append((f.name, default, "plain", None))
    spec = _SPECS[cls] = tuple(rows)
    return spec


class _NoDefault:
    __slots__ = ()


_NO_DEFAULT: Final = _NoDefault()


def _encode_obj(obj: object) -> JsonDict:
    enc = _ENCODERS.get(type(obj))
    if enc is None:
        enc = _ENCODERS[type(obj)] = _make_encoder(type(obj))
    return enc(obj)


_ENCODERS: dict[type, typing.Callable[[object], JsonDict]] = {}


def _make_encoder(cls: type) -> typing.Callable[[object], JsonDict]:
    """Compile the class's encoding plan into one function (the agent encodes every event).

    Same output as walking the plan: fields that are None or equal to their default are left
    out; strings become plain ``str`` (an enum member too); nested dataclasses are encoded.
    The generated code names fields only through ``_spec`` (dataclass field names).
    """
    spec = _spec(cls)
    env: dict[str, object] = {"_enc": _encode_obj, "_is_dc": dataclasses.is_dataclass, "_str": str}
    lines = ["def enc(o):", "    out = {}"]
    for i, (name, default, how, _sub) in enumerate(spec):
        if not name.isidentifier():
            raise TypeError(f"{cls.__name__}: field {name!r} is not an identifier")
        env[f"d{i}"] = default
        lines.append(f"    v = o.{name}")
        lines.append(f"    if v is not None and not (v == d{i}):")
        if how == "plain":
            lines.append(f"        out[{name!r}] = _str(v) if isinstance(v, _str) else v")
        elif how == "obj":
            lines.append(f"        out[{name!r}] = _enc(v)")
        elif how == "objs":
            lines.append(f"        out[{name!r}] = [_enc(x) for x in v]")
        elif how == "list":
            lines.append(f"        out[{name!r}] = list(v)")
        else:
            lines.append(f"        out[{name!r}] = _enc(v) if _is_dc(v) else v")
    lines.append("    return out")
    exec("\n".join(lines), env)  # code built from the class's own field names only
    return typing.cast("typing.Callable[[object], JsonDict]", env["enc"])


def encode_event(event: Event) -> JsonDict:
    """Return the wire dict of one event (fields equal to their default are left out).

    The agent's batches use ``encode_batch_json`` (same document, shared objects serialised
    once); this builds the dict for everything else.
    """
    return _event_dict(event, _encode_obj)


def _event_dict(event: Event, ref: typing.Callable[[object], JsonValue]) -> JsonDict:
    """An event's wire dict; ``ref`` gives what stands for a shared object (itself, or an index)."""
    out: JsonDict = {"kind": str(event.kind), "time": event.time}
    if event.ktime:
        out["ktime"] = event.ktime
    out["host"] = ref(event.host)
    out["process"] = ref(event.process)
    if event.lineage:
        out["lineage"] = [ref(e) for e in event.lineage]
    if event.container is not None:
        out["container"] = ref(event.container)
    payload = _encode_obj(event.payload)
    if payload:
        out["payload"] = payload
    if event.agent_id:
        out["agent_id"] = event.agent_id
    return out


# The agent's hot path: JSON text of shared objects (host, container, lineage entries, a
# process named by many events) is kept by identity and spliced, so each is serialised once.
_JSON = json.JSONEncoder(separators=(",", ":"))
# Bounded: entries keep their objects alive. Lineage, host and container text repeats across
# many events; a process's text across that process's own events, so a small cache is enough.
_SHARED_JSON: dict[int, tuple[object, bytes]] = {}
_SHARED_JSON_MAX: Final = 2048
_PROCESS_JSON: dict[int, tuple[object, bytes]] = {}
_PROCESS_JSON_MAX: Final = 256


def _dumps(value: object) -> bytes:
    """Compact JSON as UTF-8 bytes: orjson, or ``json`` for what orjson refuses.

    orjson rejects lone surrogates (a file name that was not UTF-8, read with
    ``surrogateescape``) and integers beyond 64 bits; ``json`` writes those as the reference
    encoder does (``\\udcxx``, big integers), so nothing is lost.
    """
    try:
        return orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        return _JSON.encode(value).encode("ascii")


def _json_shared(
    obj: object, cache: dict[int, tuple[object, bytes]] = _SHARED_JSON, limit: int = _SHARED_JSON_MAX
) -> bytes:
    hit = cache.get(id(obj))
    if hit is not None and hit[0] is obj:
        return hit[1]
    text = _dumps(_encode_obj(obj))
    if len(cache) >= limit:
        cache.clear()
    cache[id(obj)] = (obj, text)  # the reference keeps the id from being reused
    return text


def encode_batch_json(batch: Batch) -> bytes:
    """The batch as compact JSON (UTF-8): the same document as ``json.dumps(encode_batch(b))``.

    Faster for the agent: each shared object's text is made once (and kept across batches by
    identity) and spliced in, with orjson. Not thread-safe (one exporter thread encodes).
    Control characters in text are escaped as JSON requires; other text is UTF-8.
    """
    index: dict[int, bytes] = {}
    objects: list[bytes] = []
    inline = _version_to_write(batch) == 1

    def ref(obj: object, cache: dict[int, tuple[object, bytes]], limit: int) -> bytes:
        if inline:
            return _json_shared(obj, cache, limit)
        i = index.get(id(obj))  # the batch keeps every object alive: ids are not reused
        if i is None:
            i = index[id(obj)] = b"%d" % len(objects)
            objects.append(_json_shared(obj, cache, limit))
        return i

    shared, procs, pmax = _SHARED_JSON, _PROCESS_JSON, _PROCESS_JSON_MAX
    events: list[bytes] = []
    for event in batch.events:
        parts = [b'{"kind":"', str(event.kind).encode("ascii"), b'","time":', b"%d" % event.time]
        if event.ktime:
            parts += [b',"ktime":', b"%d" % event.ktime]
        parts += [
            b',"host":', ref(event.host, shared, _SHARED_JSON_MAX),
            b',"process":', ref(event.process, procs, pmax),
        ]  # fmt: skip
        if event.lineage:
            refs = [ref(e, shared, _SHARED_JSON_MAX) for e in event.lineage]
            parts += [b',"lineage":[', b",".join(refs), b"]"]
        if event.container is not None:
            parts += [b',"container":', ref(event.container, shared, _SHARED_JSON_MAX)]
        payload = _encode_obj(event.payload)
        if payload:
            parts += [b',"payload":', _dumps(payload)]
        if event.agent_id:
            parts += [b',"agent_id":', _dumps(event.agent_id)]
        parts.append(b"}")
        events.append(b"".join(parts))
    head = _dumps({"version": batch.version, "agent_id": batch.agent_id, "seq": batch.seq})[:-1]
    if inline:
        return b"".join([head, b',"events":[', b",".join(events), b"]}"])
    return b"".join([head, b',"objects":[', b",".join(objects), b'],"events":[', b",".join(events), b"]}"])


def _version_to_write(batch: Batch) -> int:
    if batch.version not in READ_VERSIONS:
        raise ValueError(f"cannot write wire version {batch.version}: use one of {sorted(READ_VERSIONS)}")
    return batch.version


def encode_batch(batch: Batch) -> JsonDict:
    """Return the wire dict of a batch in ``batch.version``'s format (2: shared objects once,
    events refer to them by index; 1: objects inline in every event, for older servers).

    Objects are numbered in the order events first name them (host, process, lineage, container)
    and told apart by identity, as ``encode_batch_json`` does.
    """
    objects: list[JsonValue] = []
    index: dict[int, int] = {}
    inline = _version_to_write(batch) == 1

    def ref(obj: object) -> JsonValue:
        if inline:
            return _encode_obj(obj)
        i = index.get(id(obj))
        if i is None:
            i = index[id(obj)] = len(objects)
            objects.append(_encode_obj(obj))
        return i

    events: list[JsonValue] = [_event_dict(event, ref) for event in batch.events]
    if inline:
        return {"version": 1, "agent_id": batch.agent_id, "seq": batch.seq, "events": events}
    return {
        "version": batch.version,
        "agent_id": batch.agent_id,
        "seq": batch.seq,
        "objects": objects,
        "events": events,
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


_Conv = typing.Callable[[object, str], object]


def _converter(tp: object) -> _Conv:
    """A checking converter for one field type, built once per type (the decode hot path)."""
    origin = typing.get_origin(tp)
    if tp is str:
        return _check_str
    if tp is bool:
        return _check_bool
    if tp is int:
        return _check_int
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"ambiguous union {tp!r}")
        inner = _converter(args[0])

        def optional(value: object, where: str) -> object:
            return None if value is None else inner(value, where)

        return optional
    if origin is tuple:
        targs = typing.get_args(tp)
        if len(targs) == 2 and targs[1] is Ellipsis:
            item = _converter(targs[0])

            def many(value: object, where: str) -> object:
                items = _check_list(value, where)
                return tuple(item(v, where + f"[{i}]") for i, v in enumerate(items))

            return many
        convs = [_converter(a) for a in targs]

        def fixed(value: object, where: str) -> object:
            items = _check_list(value, where)
            if len(items) != len(convs):
                raise CodecError(f"{where}: expected {len(convs)} items")
            return tuple(c(v, f"{where}[{i}]") for i, (c, v) in enumerate(zip(convs, items, strict=True)))

        return fixed
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        cls = tp

        def nested(value: object, where: str) -> object:
            return _decode_dataclass(cls, value, where)

        return nested
    raise TypeError(f"unsupported field type {tp!r}")


# Per class: the field names, the required ones, and (name, scalar kind, converter) triples;
# kind 1/2/3 are str/int/bool, checked inline; 0 calls the converter.
_Plan = tuple[frozenset[str], tuple[str, ...], tuple[tuple[str, int, _Conv], ...]]
_SCALAR_KIND: Final[dict[object, int]] = {str: 1, int: 2, bool: 3}
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**64
_PLANS: dict[type, _Plan] = {}


def _plan(cls: type) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(cls)
        required = tuple(
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
        plan = (
            frozenset(f.name for f in fields),
            required,
            tuple((f.name, _SCALAR_KIND.get(hints[f.name], 0), _converter(hints[f.name])) for f in fields),
        )
        _PLANS[cls] = plan
    return plan


def _decode_dataclass(cls: type[_T], value: object, where: str) -> _T:
    if not isinstance(value, Mapping):
        raise CodecError(f"{where}: expected an object, got {type(value).__name__}")
    names, required, convs = _plan(cls)
    for key in value:
        if key not in names:
            raise CodecError(f"{where}: unknown field {str(key)[:64]!r}")
    for name in required:
        if name not in value:
            raise CodecError(f"{where}.{name}: missing")
    kwargs: dict[str, object] = {}
    for name, kind, conv in convs:
        if name not in value:
            continue
        v = value[name]
        if kind == 1:
            if type(v) is not str or len(v) > MAX_STRING:
                conv(v, f"{where}.{name}")
        elif kind == 2:
            if type(v) is not int or not _INT_MIN <= v < _INT_MAX:
                conv(v, f"{where}.{name}")
        elif kind == 3:
            if type(v) is not bool:
                conv(v, f"{where}.{name}")
        else:
            v = conv(v, f"{where}.{name}")
        kwargs[name] = v
    return cls(**kwargs)


_Memo = dict[tuple[object, ...], object]


def _decode_flat(cls: type[_T], value: object, where: str, memo: _Memo | None) -> _T:
    """``_decode_dataclass`` for objects of scalars that repeat within a batch (host, lineage):
    identical objects (same keys, values and value types) are decoded once per batch."""
    if memo is None or type(value) is not dict:
        return _decode_dataclass(cls, value, where)
    try:
        key = (cls, tuple(value.items()), tuple(map(type, value.values())))
        hit = memo.get(key)
    except TypeError:  # a list or object value: not a flat object, decode (and reject) normally
        return _decode_dataclass(cls, value, where)
    if hit is None:
        hit = memo[key] = _decode_dataclass(cls, value, where)
    return hit  # type: ignore[return-value]


# Resolves an event's host, process, lineage entry or container field: the inline object
# (version 1) or an index into the batch's objects (version 2).
_Resolve = typing.Callable[[type[_T], object, str], _T]


def _inline(memo: _Memo | None) -> _Resolve[typing.Any]:
    """Version 1: objects inline; repeated hosts and lineage entries decode once per batch."""

    def resolve(cls: type[_T], value: object, where: str) -> _T:
        if cls is Host or cls is LineageEntry:
            return _decode_flat(cls, value, where, memo)
        return _decode_dataclass(cls, value, where)

    return resolve


def decode_event(data: object, where: str = "event", memo: _Memo | None = None) -> Event:
    """Decode one wire dict (objects inline) into an ``Event``; raise ``CodecError`` on any
    invalid input.

    ``memo`` (one dict per batch) lets repeated host and lineage objects decode once.
    """
    return _decode_event(data, where, _inline(memo))


def _decode_event(
    data: object, where: str, resolve: _Resolve[typing.Any], version: int = WIRE_VERSION
) -> Event:
    if not isinstance(data, Mapping):
        raise CodecError(f"{where}: expected an object")
    raw_kind = data.get("kind")
    try:
        kind = EventKind(_check_str(raw_kind, f"{where}.kind"))
    except ValueError as exc:
        if isinstance(exc, CodecError):
            raise
        raise CodecError(f"{where}.kind: unknown event kind {str(raw_kind)[:64]!r}") from None
    if kind in KIND_SINCE and version < KIND_SINCE[kind]:
        raise CodecError(
            f"{where}.kind: {kind.value} needs wire version {KIND_SINCE[kind]}, the batch is {version}"
        )
    payload_cls = PAYLOAD_BY_KIND[kind]
    payload: Payload = _decode_dataclass(payload_cls, data.get("payload", {}), f"{where}.payload")
    known = _EVENT_KEYS
    for key in data:
        if key not in known:
            raise CodecError(f"{where}: unknown field {str(key)[:64]!r}")
    for required in ("time", "host", "process"):
        if required not in data:
            raise CodecError(f"{where}.{required}: missing")
    lineage_raw = _check_list(data.get("lineage", []), f"{where}.lineage")
    container_raw = data.get("container")
    return Event(
        kind=kind,
        time=_check_int(data["time"], f"{where}.time"),
        ktime=_check_int(data.get("ktime", 0), f"{where}.ktime"),
        host=resolve(Host, data["host"], f"{where}.host"),
        process=resolve(Process, data["process"], f"{where}.process"),
        lineage=tuple(resolve(LineageEntry, v, f"{where}.lineage[{i}]") for i, v in enumerate(lineage_raw)),
        container=None if container_raw is None else resolve(Container, container_raw, f"{where}.container"),
        payload=payload,
        agent_id=_check_str(data.get("agent_id", ""), f"{where}.agent_id"),
    )


_EVENT_KEYS: Final = frozenset(
    {"kind", "time", "ktime", "host", "process", "lineage", "container", "agent_id", "payload"}
)


class _ByIndex:
    """Version 2: an event names a shared object by its index in ``objects``.

    Each (index, class) decodes once; every object must be named by some event (``check_all``),
    so nothing in a batch goes unchecked.
    """

    def __init__(self, objects: list[object]) -> None:
        self._objects = objects
        self._done: dict[tuple[int, type], object] = {}

    def __call__(self, cls: type[_T], value: object, where: str) -> _T:
        if type(value) is not int:
            raise CodecError(f"{where}: expected an index into batch.objects, got {type(value).__name__}")
        if not 0 <= value < len(self._objects):
            raise CodecError(f"{where}: index {value} is not in batch.objects (it has {len(self._objects)})")
        hit = self._done.get((value, cls))
        if hit is None:
            hit = self._done[(value, cls)] = _decode_dataclass(
                cls, self._objects[value], f"batch.objects[{value}]"
            )
        return hit  # type: ignore[return-value]

    def check_all(self) -> None:
        used = {i for i, _cls in self._done}
        for i in range(len(self._objects)):
            if i not in used:
                raise CodecError(f"batch.objects[{i}]: not named by any event")


def decode_batch(data: object) -> Batch:
    """Decode a batch wire dict of any version this server reads; raise ``CodecError`` naming
    the first invalid field."""
    if not isinstance(data, Mapping):
        raise CodecError("batch: expected a JSON object")
    version = _check_int(data.get("version"), "batch.version")
    if version not in READ_VERSIONS:
        raise CodecError(
            f"batch.version: unsupported version {version} (this server reads 1 to {WIRE_VERSION})"
        )
    for key in data:
        if key not in _BATCH_KEYS[version]:
            raise CodecError(f"batch: unknown field {str(key)[:64]!r}")
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
    if version == 1:
        resolve = _inline({})
        events = tuple(_decode_event(e, f"batch.events[{i}]", resolve, 1) for i, e in enumerate(raw_events))
    else:
        objects = data.get("objects")
        if not isinstance(objects, list):
            raise CodecError("batch.objects: expected a list")
        if len(objects) > MAX_BATCH_OBJECTS:
            raise CodecError(f"batch.objects: more than {MAX_BATCH_OBJECTS} objects")
        by_index = _ByIndex(objects)
        events = tuple(
            _decode_event(e, f"batch.events[{i}]", by_index, version) for i, e in enumerate(raw_events)
        )
        by_index.check_all()
    return Batch(agent_id=agent_id, seq=seq, events=events, version=version)


_INLINE_KEYS: Final = frozenset({"version", "agent_id", "seq", "events"})
# Version 1 has objects inline; every later version has the ``objects`` list.
_BATCH_KEYS: Final = {v: _INLINE_KEYS if v == 1 else _INLINE_KEYS | {"objects"} for v in READ_VERSIONS}
_NEWEST_KIND_VERSION: Final = max(KIND_SINCE.values(), default=1)


def readable(events: typing.Sequence[Event], version: int) -> tuple[list[Event], int]:
    """The events a server reading ``version`` accepts, and how many were left out (newer kinds).

    For a server that reads every kind, a list passed in comes back as it is (no pass over the
    batch, no copy).
    """
    if version >= _NEWEST_KIND_VERSION:
        return (events if isinstance(events, list) else list(events)), 0
    kept = [e for e in events if KIND_SINCE.get(e.kind, 1) <= version]
    return kept, len(events) - len(kept)


def loads(body: bytes | str) -> object:
    """Parse a JSON document as ``json.loads`` does, faster: orjson, and ``json`` for what
    orjson refuses (an escaped lone surrogate, NaN), so both accept the same documents. One
    difference: orjson reads an integer beyond 64 bits as a float, which the decoder refuses
    as it refuses the integer."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def event_lines(data: Mapping[str, typing.Any]) -> list[str]:
    """``event_dicts`` as compact JSON text, one line per event (what the server stores)."""
    return [_dumps(d).decode("utf-8") for d in event_dicts(data)]


def event_dicts(data: Mapping[str, typing.Any]) -> list[JsonDict]:
    """The events of a batch that ``decode_batch`` accepted, each with its objects inline.

    The server stores events in this one shape (version 1's), whatever version the agent sent.
    Version 2's shared object dicts are referenced, not copied: treat the result as read-only.
    """
    events: list[JsonDict] = data["events"]
    if data["version"] == 1:
        return events
    objects: list[JsonValue] = data["objects"]
    out: list[JsonDict] = []
    for e in events:
        d = dict(e)
        d["host"] = objects[e["host"]]  # type: ignore[index]
        d["process"] = objects[e["process"]]  # type: ignore[index]
        if "lineage" in e:
            d["lineage"] = [objects[i] for i in e["lineage"]]  # type: ignore[index, union-attr]
        if "container" in e:
            d["container"] = objects[e["container"]]  # type: ignore[index]
        out.append(d)
    return out


__all__ = [
    "KIND_SINCE",
    "MAX_BATCH_EVENTS",
    "MAX_BATCH_OBJECTS",
    "READ_VERSIONS",
    "WIRE_VERSION",
    "Batch",
    "CodecError",
    "JsonDict",
    "JsonValue",
    "decode_batch",
    "decode_event",
    "encode_batch",
    "encode_event",
    "event_dicts",
    "event_lines",
    "loads",
    "readable",
]

# Keep the dataclasses referenced so that get_type_hints can resolve forward names.
_RESOLVE: Final = (Container, EcsTask, Host, LineageEntry, Process)
