"""The engine: kind and name indexes, never raising, detectors after rules with their own state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from rtguard.detect import Engine, EngineState, build_engine, load_rule_texts
from rtguard.detect.detectors import BUILTIN
from rtguard.detect.result import SourceLocation
from rtguard.detect.rule import CompiledRule
from rtguard.model.events import Event, EventKind
from rtguard.model.findings import Detection
from rtguard.testing.events import connect_event, exec_event, exit_event

EXEC = frozenset({EventKind.PROCESS_EXEC})


def make_rule(
    rule_id: str, matches: Callable[[Event], bool], kinds: frozenset[EventKind] = EXEC
) -> CompiledRule:
    return CompiledRule(
        rule_id=rule_id,
        name=rule_id,
        desc="Detect",
        finding_type="Impact:Runtime/CryptoMinerExecuted",
        severity=None,
        priority="",
        tags=(),
        enabled=True,
        kinds=kinds,
        condition="",
        location=SourceLocation("t.yaml"),
        matches=matches,
    )


def test_rules_only_see_events_of_their_kinds() -> None:
    seen: list[EventKind] = []

    def record(e: Event) -> bool:
        seen.append(e.kind)
        return True

    engine = Engine([make_rule("A", record)])
    assert [d.rule_id for d in engine.evaluate(exec_event("x"))] == ["A"]
    assert engine.evaluate(exit_event()) == []
    assert engine.evaluate(connect_event()) == []
    assert seen == [EventKind.PROCESS_EXEC]
    assert engine.rules_for(EventKind.PROCESS_EXIT) == ()


def test_a_failing_rule_is_counted_and_does_not_stop_the_others() -> None:
    def boom(_e: Event) -> bool:
        raise RuntimeError("bad event")

    engine = Engine([make_rule("BAD", boom), make_rule("OK", lambda e: True)])
    assert [d.rule_id for d in engine.evaluate(exec_event("x"))] == ["OK"]
    engine.evaluate(exec_event("y"))
    assert engine.errors == {"BAD": 2}


def test_an_extractor_failing_on_a_malformed_event_counts_an_error() -> None:
    result = load_rule_texts(
        [
            (
                "r.yaml",
                "- rule: R\n  id: T-1\n  desc: Detect\n  finding_type: Impact:Runtime/CryptoMinerExecuted\n"
                "  condition: evt.type = execve and proc.stdin_is_socket = true\n",
            )
        ]
    )
    engine = Engine(result.items)
    broken = exec_event("x", stdio_sockets=())  # not the 3-tuple the model promises
    assert engine.evaluate(broken) == []
    assert engine.errors == {"T-1": 1}


def test_disabled_rules_do_not_run() -> None:
    rule = make_rule("OFF", lambda e: True)
    engine = Engine([replace(rule, enabled=False)])
    assert engine.rules == () and engine.evaluate(exec_event("x")) == []


@dataclass
class CountingState:
    execs: int = 0
    seen: list[str] = field(default_factory=list)


class EveryThirdExec:
    """A toy stateful detector: fires on the third exec of a partition."""

    rule_id = "RTG-TEST"
    kinds = EXEC

    def new_state(self) -> CountingState:
        return CountingState()

    def on_event(self, event: Event, state: CountingState) -> list[Detection]:
        state.execs += 1
        state.seen.append(event.process.name)
        if state.execs % 3:
            return []
        return [
            Detection(finding_type="Custom:Runtime/Third", event=event, rule_id=self.rule_id, artifact="")
        ]


class Exploding:
    rule_id = "RTG-BOOM"
    kinds = frozenset(EventKind)

    def new_state(self) -> None:
        return None

    def on_event(self, event: Event, state: None) -> list[Detection]:
        raise ValueError("detector bug")


def test_detectors_run_after_rules_with_state_per_partition() -> None:
    detector = EveryThirdExec()
    engine = Engine([make_rule("RULE", lambda e: True)], [detector, Exploding()])
    a, b = engine.new_state(), engine.new_state()
    for _ in range(2):
        engine.evaluate(exec_event("x"), a)
        engine.evaluate(exec_event("x"), b)
    third = engine.evaluate(exec_event("x"), a)
    assert [d.rule_id for d in third] == ["RULE", "RTG-TEST"]
    assert [d.rule_id for d in engine.evaluate(exit_event())] == []
    assert engine.errors["RTG-BOOM"] == 6
    assert a.of(detector).execs == 3 and b.of(detector).execs == 2


def test_default_state_is_used_without_one() -> None:
    detector = EveryThirdExec()
    engine = Engine([], [detector])
    results = [engine.evaluate(exec_event("x")) for _ in range(3)]
    assert [len(r) for r in results] == [0, 0, 1]
    assert isinstance(engine.new_state(), EngineState)


def test_builtin_detectors_are_an_explicit_tuple() -> None:
    assert isinstance(BUILTIN, tuple)


def test_build_engine_loads_the_shipped_rules() -> None:
    engine, result = build_engine()
    assert result.ok and engine.rules
    assert all(EventKind.PROCESS_EXEC in r.kinds for r in engine.rules_for(EventKind.PROCESS_EXEC))


_SHIPPED_ENGINE, _ = build_engine()
_NAMES = [*sorted({n for r in _SHIPPED_ENGINE.rules for n in r.names or ()}), "sh", "python3", "XMRig"]
_ARGS = ["-o", "stratum+tcp://p:1", "169.254.169.254/latest/user-data", "get-caller-identity", "auth", "can-i",
         "-perm", "-4000", "/var/run/secrets/kubernetes.io", "-e", "EXEC:/bin/sh", "--donate-level", "x"]  # fmt: skip


@given(
    st.sampled_from(_NAMES),
    st.sampled_from(_NAMES),
    st.sampled_from(_NAMES),
    st.lists(st.sampled_from(_ARGS), max_size=4),
)
@settings(max_examples=500)
def test_name_index_gives_the_same_detections_as_running_every_rule(
    name: str, argv0: str, filename: str, args: list[str]
) -> None:
    event = exec_event(name, argv=[argv0, *args], filename=f"/usr/bin/{filename}")
    brute = [r.rule_id for r in _SHIPPED_ENGINE.rules if event.kind in r.kinds and r.matches(event)]
    assert [d.rule_id for d in _SHIPPED_ENGINE.evaluate(event)] == brute
