"""Metering without HTTP: heartbeats through ``UsageMeter`` into a real (in-memory SQLite) store
with a fake clock; the edge cases of the accrual rules (gaps past the timeout, hour boundaries,
disabled monitoring, clocks going backwards, duplicates, several agents on one resource)."""

from __future__ import annotations

from typing import Any

import pytest

from rtguard.store.sqlite import SqlStore
from rtguard.usage.accrual import Feature, Outcome, observe, split_hours
from rtguard.usage.meter import UsageMeter

ACCOUNT = "123456789012"
OTHER = "210987654321"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, an hour boundary
TASK = "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef"


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def env() -> tuple[SqlStore, UsageMeter, Clock]:
    store = SqlStore("sqlite://")
    store.create_account(ACCOUNT, "us-east-1")
    clock = Clock()
    return store, UsageMeter(store, timeout=60.0, clock=clock), clock


def host(
    agent: str = "a1", *, vcpus: Any = 4, instance: str = "i-0aaa", at: float | None = None, **extra: Any
) -> dict[str, Any]:
    beat: dict[str, Any] = {"agent_id": agent, "instance_id": instance, "hostname": "node-1", "resource": {}}
    if vcpus is not None:
        beat["host_vcpus"] = vcpus
    if at is not None:
        beat["time"] = at
    return {**beat, **extra}


def sidecar(agent: str = "s1", *, cpu: Any = "0.25", at: float | None = None) -> dict[str, Any]:
    resource = {
        "mode": "sidecar",
        "task_arn": TASK,
        "cluster_arn": "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
    }
    if cpu is not None:
        resource["task_cpu"] = cpu
    beat: dict[str, Any] = {"agent_id": agent, "resource": resource, "host_vcpus": 2}
    if at is not None:
        beat["time"] = at
    return beat


def totals(store: SqlStore, account: str = ACCOUNT) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for row in store.usage_rows([account], 0.0):
        out[(row.feature, row.resource)] = out.get((row.feature, row.resource), 0.0) + row.vcpu_seconds
    return out


def beat_every(
    meter: UsageMeter, clock: Clock, beat: dict[str, Any], times: list[float], *, monitored: bool = True
) -> list[str]:
    out = []
    for t in times:
        clock.now = t
        out.append(meter.on_heartbeat(ACCOUNT, {**beat, "time": t + 0.5}, monitored=monitored))
    return out


def test_observe_classifies_fargate_ec2_and_eks() -> None:
    fargate = observe(ACCOUNT, sidecar(), monitored=True)
    assert (fargate.feature, fargate.resource, fargate.vcpus) == (Feature.FARGATE, TASK, 0.25)
    ec2 = observe(ACCOUNT, host(vcpus=8), monitored=True)
    assert (ec2.feature, ec2.resource, ec2.vcpus) == (Feature.EC2, "i-0aaa", 8.0)
    eks = observe(ACCOUNT, host(eks_cluster_name="prod-eks"), monitored=True)
    assert eks.feature is Feature.EKS and eks.resource == "i-0aaa"
    nameless = observe(ACCOUNT, host(instance=""), monitored=True)
    assert nameless.resource == "host/node-1"
    # An older host agent sends no host_vcpus; hostile values are not numbers of vCPUs.
    for bad in (None, True, -1, 0, "many", float("inf"), 10**9, [4]):
        assert observe(ACCOUNT, host(vcpus=bad), monitored=True).vcpus is None, bad
    assert observe(ACCOUNT, host(instance="i-" + "x" * 600), monitored=True).vcpus is None


def test_split_hours_at_boundaries() -> None:
    assert split_hours(T0 + 3590, T0 + 3610) == [(T0, 10.0), (T0 + 3600, 10.0)]
    assert split_hours(T0, T0 + 3600) == [(T0, 3600.0)]
    assert split_hours(T0 + 5, T0 + 5) == []
    assert sum(s for _, s in split_hours(T0 + 100, T0 + 3 * 3600 + 7)) == pytest.approx(3 * 3600 + 7 - 100)


def test_consecutive_heartbeats_credit_the_interval_times_vcpus(env: Any) -> None:
    store, meter, clock = env
    outcomes = beat_every(meter, clock, host(vcpus=4), [T0 + 10 + 5 * i for i in range(7)])
    assert outcomes == ["first_heartbeat"] + ["credited"] * 6
    assert totals(store) == {("EC2_RUNTIME_MONITORING", "i-0aaa"): pytest.approx(30 * 4)}
    assert meter.vcpu_seconds()["EC2_RUNTIME_MONITORING"] == pytest.approx(120)


def test_fargate_uses_task_cpu_not_the_host(env: Any) -> None:
    store, meter, clock = env
    beat_every(meter, clock, sidecar(cpu="0.5"), [T0, T0 + 20, T0 + 40])
    assert totals(store) == {("FARGATE_RUNTIME_MONITORING", TASK): pytest.approx(40 * 0.5)}


def test_a_gap_longer_than_the_timeout_is_capped(env: Any) -> None:
    store, meter, clock = env
    beat_every(meter, clock, host(vcpus=2), [T0, T0 + 600, T0 + 605])
    # 60 s of the 600 s silence (the timeout), then 5 s.
    assert totals(store)[("EC2_RUNTIME_MONITORING", "i-0aaa")] == pytest.approx((60 + 5) * 2)


def test_hour_boundary_splits_the_credit(env: Any) -> None:
    store, meter, clock = env
    beat_every(meter, clock, host(vcpus=1), [T0 + 3580, T0 + 3620])
    rows = [(r.hour, r.vcpu_seconds) for r in store.usage_rows([ACCOUNT], 0.0)]
    assert rows == [(T0, pytest.approx(20.0)), (T0 + 3600, pytest.approx(20.0))]


def test_disabled_monitoring_bills_nothing(env: Any) -> None:
    store, meter, clock = env
    assert (
        beat_every(meter, clock, host(), [T0, T0 + 5, T0 + 10], monitored=False)[1:] == ["not_monitored"] * 2
    )
    assert totals(store) == {}
    # Monitoring switched on: the interval that starts disabled is not billed, the next one is.
    assert beat_every(meter, clock, host(vcpus=4), [T0 + 15, T0 + 20]) == ["not_monitored", "credited"]
    assert totals(store) == {("EC2_RUNTIME_MONITORING", "i-0aaa"): pytest.approx(20)}
    # ... and switched off again: the interval ending disabled is not billed either.
    beat_every(meter, clock, host(vcpus=4), [T0 + 25], monitored=False)
    assert totals(store) == {("EC2_RUNTIME_MONITORING", "i-0aaa"): pytest.approx(20)}
    assert store.trial_starts(ACCOUNT) == {"EC2_RUNTIME_MONITORING": T0 + 15}


def test_duplicate_heartbeat_is_idempotent(env: Any) -> None:
    store, meter, clock = env
    beat = host(vcpus=4)
    clock.now = T0
    meter.on_heartbeat(ACCOUNT, {**beat, "time": 100.0}, monitored=True)
    clock.now = T0 + 5
    assert meter.on_heartbeat(ACCOUNT, {**beat, "time": 105.0}, monitored=True) == "credited"
    clock.now = T0 + 8  # the same heartbeat delivered again
    assert meter.on_heartbeat(ACCOUNT, {**beat, "time": 105.0}, monitored=True) == "duplicate"
    clock.now = T0 + 10
    assert meter.on_heartbeat(ACCOUNT, {**beat, "time": 110.0}, monitored=True) == "credited"
    assert totals(store)[("EC2_RUNTIME_MONITORING", "i-0aaa")] == pytest.approx(10 * 4)


def test_duplicate_with_sub_millisecond_agent_time(env: Any) -> None:
    store, meter, clock = env
    beat = host(vcpus=1)
    for now, agent_time in ((T0, 1_764_388_800.1234567), (T0 + 5, 1_764_388_805.4567891)):
        clock.now = now
        meter.on_heartbeat(ACCOUNT, {**beat, "time": agent_time}, monitored=True)
    clock.now = T0 + 6  # the real agent's float time, delivered again: the store kept milliseconds
    assert meter.on_heartbeat(ACCOUNT, {**beat, "time": 1_764_388_805.4567891}, monitored=True) == "duplicate"
    assert totals(store)[("EC2_RUNTIME_MONITORING", "i-0aaa")] == pytest.approx(5)


def test_server_clock_going_backwards_credits_nothing_and_restarts(env: Any) -> None:
    store, meter, clock = env
    outcomes = []
    for agent_time, now in enumerate((T0 + 100, T0 + 105, T0 + 50, T0 + 55)):
        clock.now = now
        outcomes.append(meter.on_heartbeat(ACCOUNT, host(vcpus=1, at=agent_time), monitored=True))
    assert outcomes == ["first_heartbeat", "credited", "clock_backwards", "credited"]
    # 100..105, then nothing for the step back, then 50..55 (not blocked by the old watermark).
    assert totals(store)[("EC2_RUNTIME_MONITORING", "i-0aaa")] == pytest.approx(10)
    assert meter.outcomes()["clock_backwards"] == 1


def test_agent_clock_going_backwards_credits_nothing(env: Any) -> None:
    store, meter, clock = env
    beat = host(vcpus=1)
    for now, agent_time, expected in ((T0, 1000.0, "first_heartbeat"), (T0 + 5, 1005.0, "credited"),
                                      (T0 + 10, 10.0, "agent_clock_backwards"), (T0 + 15, 15.0, "credited")):  # fmt: skip
        clock.now = now
        assert meter.on_heartbeat(ACCOUNT, {**beat, "time": agent_time}, monitored=True) == expected
    assert totals(store)[("EC2_RUNTIME_MONITORING", "i-0aaa")] == pytest.approx(10)


def test_two_agents_on_one_resource_count_it_once(env: Any) -> None:
    store, meter, clock = env
    # Agent a1 beats at 0, 5, 10, ...; a2 on the same instance at 2.5, 7.5, ...: the union is 0..30.
    events = sorted([(T0 + 5 * i, "a1") for i in range(7)] + [(T0 + 2.5 + 5 * i, "a2") for i in range(6)])
    for t, agent in events:
        clock.now = t
        meter.on_heartbeat(ACCOUNT, host(agent, vcpus=4, at=t), monitored=True)
    assert totals(store) == {("EC2_RUNTIME_MONITORING", "i-0aaa"): pytest.approx(30 * 4)}
    # A different instance is a different resource.
    beat_every(meter, clock, host("b1", vcpus=2, instance="i-0bbb"), [T0 + 40, T0 + 45])
    assert totals(store)[("EC2_RUNTIME_MONITORING", "i-0bbb")] == pytest.approx(10)


def test_older_agent_without_vcpus_is_accepted_but_unmetered(env: Any) -> None:
    store, meter, clock = env
    assert beat_every(meter, clock, host(vcpus=None), [T0, T0 + 5]) == ["first_heartbeat", "no_vcpus"]
    assert totals(store) == {}
    assert store.trial_starts(ACCOUNT) == {}


def test_agent_heard_under_another_account_bills_neither(env: Any) -> None:
    store, meter, clock = env
    store.create_account(OTHER, "us-east-1")
    clock.now = T0
    meter.on_heartbeat(ACCOUNT, host(vcpus=4, at=1.0), monitored=True)
    clock.now = T0 + 5
    assert meter.on_heartbeat(OTHER, host(vcpus=4, at=2.0), monitored=True) == "account_changed"
    clock.now = T0 + 10
    assert meter.on_heartbeat(OTHER, host(vcpus=4, at=3.0), monitored=True) == "credited"
    assert totals(store) == {}
    assert totals(store, OTHER) == {("EC2_RUNTIME_MONITORING", "i-0aaa"): pytest.approx(20)}


def test_bad_agent_id_and_store_failure_are_counted(env: Any) -> None:
    store, meter, clock = env
    assert meter.on_heartbeat(ACCOUNT, {"agent_id": 7}, monitored=True) == "bad_agent_id"
    store.close()

    class Broken:
        def accrue_usage(self, agent_id: str, step: Any) -> Any:
            raise RuntimeError("disk full")

        def prune_usage(self, *, cursors_before: float, hours_before: float) -> tuple[int, int]:
            raise RuntimeError("disk full")

    broken = UsageMeter(Broken(), clock=clock)
    assert broken.on_heartbeat(ACCOUNT, host(), monitored=True) == "error"
    assert broken.outcomes() == {"error": 1}
    assert set(broken.outcomes()) <= set(UsageMeter.outcome_names())
    assert {o.value for o in Outcome} <= set(UsageMeter.outcome_names())


def test_a_failed_prune_is_counted_and_metering_goes_on(env: Any) -> None:
    store, _meter, clock = env

    class PruneFails:
        def accrue_usage(self, agent_id: str, step: Any) -> Any:
            return store.accrue_usage(agent_id, step)

        def prune_usage(self, *, cursors_before: float, hours_before: float) -> tuple[int, int]:
            raise RuntimeError("database is locked")

    meter = UsageMeter(PruneFails(), clock=clock)
    assert beat_every(meter, clock, host(vcpus=1), [T0, T0 + 5]) == ["first_heartbeat", "credited"]
    assert meter.prune_errors == 1  # tried once (at most hourly), failed, counted
    assert totals(store) == {("EC2_RUNTIME_MONITORING", "i-0aaa"): pytest.approx(5)}


def test_old_cursors_and_hours_are_pruned_hourly(env: Any) -> None:
    store, meter, clock = env
    beat_every(meter, clock, host("old", vcpus=1, instance="i-0old"), [T0, T0 + 5])
    beat_every(meter, clock, host("new", vcpus=1, instance="i-0new"), [T0 + 91 * 86400, T0 + 91 * 86400 + 5])
    # The first heartbeat 91 days later pruned: i-0old's hour (older than 90 days) and its cursor.
    assert set(totals(store)) == {("EC2_RUNTIME_MONITORING", "i-0new")}
    assert beat_every(meter, clock, host("old", vcpus=1, instance="i-0old"), [T0 + 91 * 86400 + 10]) == [
        "first_heartbeat"
    ]
    assert store.trial_starts(ACCOUNT) == {"EC2_RUNTIME_MONITORING": T0}  # trials are never forgotten
