"""Coverage status changes reach the publishing outlets as EventBridge events."""

from __future__ import annotations

import time
from typing import Any

from rtguard.findings.formats import PayloadFormat
from rtguard.findings.publish import OutletSpec, Publisher


class _Sink:
    label = "sink"

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, payload: dict[str, Any]) -> None:
        self.sent.append(payload)

    def close(self) -> None:
        return None


def test_coverage_event_goes_to_eventbridge_outlets_not_ocsf() -> None:
    eb, ocsf = _Sink(), _Sink()
    publisher = Publisher(frequency_of=lambda _d: "SIX_HOURS")
    publisher.set_outlets({
        "eb": OutletSpec(destination=eb, format=PayloadFormat.EVENTBRIDGE),
        "ocsf": OutletSpec(destination=ocsf, format=PayloadFormat.OCSF),
    })  # fmt: skip
    event = {
        "version": "0",
        "id": "e-1",
        "detail-type": "GuardDuty Runtime Protection Unhealthy",
        "source": "aws.guardduty",
        "detail": {"currentStatus": "UNHEALTHY", "previousStatus": "HEALTHY", "issue": "Agent not reporting"},
    }
    publisher.submit_event(event)
    deadline = time.monotonic() + 5
    while not eb.sent and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    publisher.stop()
    assert eb.sent == [event]
    assert ocsf.sent == []
    assert publisher.stats.snapshot()[0] == {"sink": 1}
