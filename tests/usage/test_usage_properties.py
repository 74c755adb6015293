"""Properties of the pure accrual (Hypothesis): however agents of one resource interleave,
retry, stall or see the clock step back, the credited time never exceeds the time the server's
clock moved forward, and agents that report within the timeout are credited all of it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rtguard.store.usage import UsageCursor
from rtguard.usage.accrual import accrue, observe

ACCOUNT = "123456789012"
TIMEOUT = 60.0

# (agent index, server time step in seconds, agent time step: 0 means a retry of the last one)
_beats = st.lists(
    st.tuples(st.integers(0, 2), st.floats(-5, 200, allow_nan=False), st.sampled_from([0.0, 1.0, 5.0])),
    min_size=1,
    max_size=40,
)


def _run(beats: list[tuple[int, float, float]], timeout: float = TIMEOUT) -> tuple[float, float]:
    """Feed the heartbeats through ``accrue`` the way the store does; return (credited seconds,
    how far the server's clock moved forward in total)."""
    cursors: dict[str, UsageCursor] = {}
    mark: float | None = None
    now, agent_times = 1_000_000.0, [0.0, 0.0, 0.0]
    credited, forward = 0.0, 0.0
    for agent, step, tick in beats:
        now += step
        forward += max(step, 0.0)
        agent_times[agent] += tick
        beat = {"agent_id": f"a{agent}", "instance_id": "i-1", "host_vcpus": 1, "time": agent_times[agent]}
        obs = observe(ACCOUNT, beat, monitored=True)
        prev = cursors.get(obs.agent_id)
        result = accrue(prev, mark, obs, now=now, timeout=timeout)
        credited += sum(c.vcpu_seconds for c in result.credits)
        if result.cursor is not None:
            cursors[obs.agent_id] = result.cursor
        if result.credited_until is not None and prev is not None:
            mark = result.credited_until
    return credited, forward


@settings(max_examples=300, deadline=None)
@given(_beats)
def test_never_more_than_the_clock_moved(beats: list[tuple[int, float, float]]) -> None:
    credited, forward = _run(beats)
    assert credited <= forward + 1e-6


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.floats(0.5, 10, allow_nan=False)), min_size=2, max_size=40))
def test_regular_reporting_is_credited_in_full(beats: list[tuple[int, float]]) -> None:
    # Every agent heard at the start, then any interleaving; no agent is ever silent past the
    # timeout (at most 40 steps of 10 s < 1,000 s).
    start = [(0, 0.0, 1.0), (1, 0.0, 1.0), (2, 0.0, 1.0)]
    timeline = start + [(agent, step, 1.0) for agent, step in beats]
    credited, forward = _run(timeline, timeout=1000.0)
    # Each agent was heard at the start and beats in time order, so the union of the agents'
    # intervals is the whole span: credited exactly once, neither less nor more.
    assert abs(credited - forward) <= 1e-6
