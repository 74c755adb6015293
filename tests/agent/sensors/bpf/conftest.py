"""Fixtures of the BPF sensor tests: one real sensor per test module (privileged)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rtguard.agent.sensors.bpf.sensor import BpfSensor
from rtguard.testing.privilege import require_root


@pytest.fixture(scope="module")
def sensor() -> Iterator[BpfSensor]:
    require_root()
    s = BpfSensor()
    s.start()
    try:
        yield s
    finally:
        s.close()
