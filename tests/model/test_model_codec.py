"""The wire codec: round trips, strict rejection of bad input, and fuzzing."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtguard.model.codec import (
    MAX_BATCH_EVENTS,
    MAX_BATCH_OBJECTS,
    WIRE_VERSION,
    Batch,
    CodecError,
    decode_batch,
    decode_event,
    encode_batch,
    encode_batch_json,
    encode_event,
    event_dicts,
    event_lines,
    loads,
    readable,
)
from rtguard.model.events import (
    Container,
    DnsPayload,
    EcsTask,
    Event,
    EventKind,
    ExecPayload,
    Host,
    LineageEntry,
    NetPayload,
    Process,
)


def _event(**kw: object) -> Event:
    base: dict[str, object] = {
        "kind": EventKind.PROCESS_EXEC,
        "time": 1_700_000_000_000_000_000,
        "host": Host(hostname="h1", boot_id="b"),
        "process": Process(exec_id="e1", pid=42, argv=("xmrig", "-o", "stratum+tcp://x:1"), uid=0),
        "payload": ExecPayload(filename="/tmp/xmrig"),
    }
    base.update(kw)
    return Event(**base)  # type: ignore[arg-type]


def test_round_trip_full_event() -> None:
    ev = _event(
        lineage=(LineageEntry(exec_id="p", pid=1, name="sh"),),
        container=Container(
            id="a" * 64,
            cgroup="/ecs/t/" + "a" * 64,
            ecs=EcsTask(cluster_arn="arn:aws:ecs:us-east-1:1:cluster/c", task_arn="arn:t"),
        ),
    )
    wire = json.loads(json.dumps(encode_event(ev)))
    assert decode_event(wire) == ev


def test_round_trip_other_payloads() -> None:
    for ev in (
        _event(kind=EventKind.DNS_QUERY, payload=DnsPayload(name="x.test", answers=("1.2.3.4",))),
        _event(kind=EventKind.NET_CONNECT, payload=NetPayload(family=2, protocol=6, remote_ip="127.0.0.1")),
    ):
        assert decode_event(json.loads(json.dumps(encode_event(ev)))) == ev


def test_batch_round_trip_and_defaults_left_out() -> None:
    batch = Batch(agent_id="agent-1", seq=7, events=(_event(),))
    wire = encode_batch(batch)
    assert "ktime" not in wire["events"][0]  # type: ignore[index, operator]
    assert decode_batch(json.loads(json.dumps(wire))) == batch


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(version=99), "unsupported version"),
        (lambda d: d.update(agent_id=""), "agent_id"),
        (lambda d: d.update(seq=-1), "seq"),
        (lambda d: d.update(events="x"), "events"),
        (lambda d: d["events"][0].update(kind="nope"), "unknown event kind"),
        (lambda d: d["events"][0].update(time="soon"), "time"),
        (lambda d: d["objects"][1].update(pid=True), r"objects\[1\]\.pid"),
        (lambda d: d["objects"][1].update(argv="ls"), "argv"),
        (lambda d: d["objects"][1].update(evil=1), "unknown field"),
        (lambda d: d["events"][0].pop("process"), "process: missing"),
        (lambda d: d["objects"][1].update(name="x" * 20000), "longer than"),
        # version 2's references
        (lambda d: d["events"][0].update(process=7), "index 7 is not in batch.objects"),
        (lambda d: d["events"][0].update(process=-1), "index -1"),
        (lambda d: d["events"][0].update(process=True), "expected an index"),
        (lambda d: d["events"][0].update(process={"exec_id": "e", "pid": 1}), "expected an index"),
        (lambda d: d["events"][0].update(host=1), r"objects\[1\]: unknown field"),  # a process as host
        (lambda d: d["objects"].append({"hostname": "x"}), r"objects\[2\]: not named by any event"),
        (lambda d: d.pop("objects"), "batch.objects: expected a list"),
        (lambda d: d.update(extra=1), "batch: unknown field 'extra'"),
    ],
)
def test_rejects_bad_batches_with_field_names(mutate: object, message: str) -> None:
    wire = json.loads(json.dumps(encode_batch(Batch(agent_id="a", seq=1, events=(_event(),)))))
    mutate(wire)  # type: ignore[operator]
    with pytest.raises(CodecError, match=message):
        decode_batch(wire)


def test_rejects_too_many_events() -> None:
    with pytest.raises(CodecError, match="more than"):
        decode_batch({"version": 1, "agent_id": "a", "seq": 0, "events": [{}] * (MAX_BATCH_EVENTS + 1)})
    with pytest.raises(CodecError, match="more than"):
        decode_batch(
            {"version": 2, "agent_id": "a", "seq": 0, "objects": [{}] * (MAX_BATCH_OBJECTS + 1), "events": []}
        )


def test_version_2_sends_each_shared_object_once_and_decodes_it_once() -> None:
    shared = Process(exec_id="p", pid=7, argv=("python3", "-c", "x" * 500))
    parent = LineageEntry(exec_id="q", pid=1, name="sh")
    host = Host(hostname="h1")  # told apart by identity, as the agent shares them
    events = tuple(
        _event(
            kind=EventKind.NET_CONNECT,
            host=host,
            process=shared,
            lineage=(parent,),
            payload=NetPayload(family=2, protocol=6, remote_port=i),
        )
        for i in range(50)
    )
    wire = json.loads(encode_batch_json(Batch(agent_id="a", seq=3, events=events)))
    assert wire["version"] == WIRE_VERSION == 3
    assert len(wire["objects"]) == 3  # one host, one process, one lineage entry
    assert wire["events"][49]["process"] == 1 and wire["events"][49]["lineage"] == [2]
    batch = decode_batch(wire)
    assert batch.events == events
    assert batch.events[0].process is batch.events[49].process  # decoded once


def test_no_unknown_version_is_written() -> None:
    with pytest.raises(ValueError, match="cannot write wire version 4"):
        encode_batch_json(Batch(agent_id="a", seq=0, events=(), version=4))


def test_version_1_batches_from_older_agents_still_decode() -> None:
    ev = _event(lineage=(LineageEntry(exec_id="p", pid=1, name="sh"),))
    v1 = {"version": 1, "agent_id": "a", "seq": 0, "events": [encode_event(ev)]}
    batch = decode_batch(json.loads(json.dumps(v1)))
    assert batch.version == 1 and batch.events == (ev,)
    assert event_dicts(v1) == [encode_event(ev)]


def test_event_dicts_are_the_inline_shape_whatever_the_version() -> None:
    box = Container(id="a" * 64, ecs=EcsTask(cluster_arn="c", task_arn="t"))
    events = (
        _event(lineage=(LineageEntry(exec_id="p", pid=1),), container=box, ktime=5),
        _event(kind=EventKind.DNS_QUERY, payload=DnsPayload(name="x.test"), agent_id="ag"),
    )
    wire = json.loads(json.dumps(encode_batch(Batch(agent_id="a", seq=1, events=events))))
    decode_batch(wire)
    inline = event_dicts(wire)
    assert inline == [encode_event(e) for e in events]
    assert list(inline[0]) == list(encode_event(events[0]))  # same key order as version 1
    assert [decode_event(d) for d in inline] == list(events)


def test_hostile_strings_survive_unchanged() -> None:
    hostile = "<script>alert(1)</script>\x1b[31m\u202e\ud800'\";--"
    ev = _event(process=Process(exec_id="e", pid=1, argv=(hostile,), cwd=hostile))
    wire = json.loads(json.dumps(encode_event(ev)))
    assert decode_event(wire).process.argv == (hostile,)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_decode_is_total(data: object) -> None:
    with contextlib.suppress(CodecError):
        decode_batch(data)


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=50),
    st.lists(st.text(max_size=30), max_size=8),
    st.integers(min_value=0, max_value=2**40),
)
def test_round_trip_property(name: str, argv: list[str], pid: int) -> None:
    ev = _event(process=Process(exec_id="x", pid=pid, name=name, argv=tuple(argv)))
    assert decode_event(json.loads(json.dumps(encode_event(ev)))) == ev


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=40),
    st.lists(st.text(max_size=30), max_size=6),
    st.integers(min_value=0, max_value=2**40),
    st.text(max_size=20),
)
def test_spliced_batch_json_is_the_same_document(name: str, argv: list[str], pid: int, agent: str) -> None:
    shared = Process(exec_id="x", pid=pid, name=name, argv=tuple(argv), cwd=name)
    lineage = (LineageEntry(exec_id="p", pid=1, name=name), LineageEntry(exec_id="q", pid=2))
    box = Container(id="a" * 64, cgroup="/ecs/t/" + "a" * 64, ecs=EcsTask(cluster_arn="c", task_arn=name))
    events = (
        _event(process=shared, lineage=lineage, container=box, ktime=pid),
        _event(kind=EventKind.DNS_QUERY, process=shared, payload=DnsPayload(name=name, answers=(name,))),
        _event(kind=EventKind.PROCESS_EXIT, process=shared, payload=ExecPayload(filename=""), agent_id=agent),
    )
    for version in (1, 2, 3):  # older ones: for a server that has not offered the newest yet
        batch = Batch(agent_id=agent, seq=pid, events=events, version=version)
        body = encode_batch_json(batch)
        assert json.loads(body) == json.loads(json.dumps(encode_batch(batch)))
        assert json.loads(body)["version"] == version
        body.decode("utf-8")
        assert not any(b < 0x20 for b in body)  # control characters in hostile text are escaped


def test_spliced_batch_json_keeps_text_orjson_refuses() -> None:
    """A file name that was not UTF-8 (read with surrogateescape) and a huge integer go through
    the reference encoder instead of failing the batch."""
    odd = "/tmp/\udcff\udcfe-x"
    proc = Process(exec_id="x", pid=1, name="a\x1b[31m", exe_path=odd, cwd=odd)
    events = (
        _event(process=proc),
        _event(kind=EventKind.DNS_QUERY, process=proc, payload=DnsPayload(name=odd, answers=(odd,))),
    )
    batch = Batch(agent_id="a", seq=2**70, events=events)
    body = encode_batch_json(batch)
    assert json.loads(body) == json.loads(json.dumps(encode_batch(batch)))
    assert json.loads(body)["objects"][1]["exe_path"] == odd


def test_repeated_objects_decode_once_but_are_still_checked_each_time() -> None:
    ev = _event(lineage=(LineageEntry(exec_id="p", pid=1, name="sh"),))
    good = encode_event(ev)
    batch = decode_batch({"version": 1, "agent_id": "a", "seq": 0, "events": [good, good]})
    assert batch.events[0].lineage[0] is batch.events[1].lineage[0]  # decoded once
    bad = json.loads(json.dumps(good))
    bad["lineage"][0]["pid"] = True  # equal to 1 in Python, but not an integer on the wire
    with pytest.raises(CodecError, match=r"lineage\[0\]\.pid"):
        decode_batch({"version": 1, "agent_id": "a", "seq": 0, "events": [good, bad]})


def test_a_version_2_index_named_as_two_classes_is_checked_as_each() -> None:
    wire = encode_batch(
        Batch(agent_id="a", seq=0, events=(_event(lineage=(LineageEntry(exec_id="p", pid=1),)),))
    )
    events: list[dict[str, object]] = wire["events"]  # type: ignore[assignment]
    events[0]["lineage"] = [1]  # the process, named as a lineage entry as well
    with pytest.raises(CodecError, match=r"objects\[1\]: unknown field"):
        decode_batch(json.loads(json.dumps(wire)))


_json64 = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_json64 | st.text().map(lambda t: t + "\udcff"))
def test_loads_reads_what_json_loads_reads(value: object) -> None:
    text = json.dumps(value)
    assert loads(text.encode()) == json.loads(text)


def test_loads_takes_the_reference_parser_for_what_orjson_refuses() -> None:
    assert loads(b'["\\udcff", NaN]')[0] == "\udcff"  # type: ignore[index]
    with pytest.raises(ValueError):
        loads(b"{not json")


def test_a_huge_integer_is_refused_whichever_parser_read_it() -> None:
    body = json.dumps(encode_batch(Batch(agent_id="a", seq=0, events=(_event(),)))).replace(
        '"seq": 0', '"seq": 123456789012345678901234567890'
    )
    for parsed in (loads(body.encode()), json.loads(body)):
        with pytest.raises(CodecError, match=r"batch\.seq"):
            decode_batch(parsed)


def test_stored_event_lines_are_json_of_the_inline_events() -> None:
    odd = "/tmp/\udcff-\u202e"
    events = (_event(process=Process(exec_id="x", pid=1, cwd=odd)),)
    wire = json.loads(json.dumps(encode_batch(Batch(agent_id="a", seq=0, events=events))))
    lines = event_lines(wire)
    assert [json.loads(line) for line in lines] == event_dicts(wire)
    assert json.loads(lines[0])["process"]["cwd"] == odd


def test_kinds_newer_than_the_batch_version_are_refused_and_left_out_for_old_servers() -> None:
    dup = _event(
        kind=EventKind.STDIO_REDIRECT,
        payload=NetPayload(family=2, protocol=6, remote_ip="10.0.0.9", remote_port=4444, fd=0),
    )
    events = (_event(), dup)
    wire = json.loads(encode_batch_json(Batch(agent_id="a", seq=0, events=events)))
    assert wire["version"] == 3 and decode_batch(wire).events == events
    wire["version"] = 2
    with pytest.raises(CodecError, match=r"events\[1\]\.kind: stdio_redirect needs wire version 3"):
        decode_batch(wire)
    assert readable(events, 2) == ([events[0]], 1)
    assert readable(events, 3) == (list(events), 0)
