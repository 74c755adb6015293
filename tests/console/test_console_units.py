"""Pure parts of the console: signed tokens (round trip, tampering, purpose, expiry), severity
bands, link building, issue-string targets and agent rows built from malformed heartbeats."""

from __future__ import annotations

from typing import Any

import pytest

from rtguard.console.fleet import agent_row, drops_by_reason, issue_targets
from rtguard.console.render import link, severity_band, severity_class
from rtguard.console.session import TokenError, TokenSigner
from rtguard.store.coverage import AgentRecord

KEY = b"s" * 32


def test_session_tokens_round_trip_and_refuse_tampering_purpose_and_expiry() -> None:
    signer = TokenSigner(KEY)
    session, token = signer.new_session("123456789012", "AKIAEXAMPLE", now=1000.0, ttl=60)
    assert signer.session(token, now=1059.0) == session
    with pytest.raises(TokenError, match="expired"):
        signer.session(token, now=1060.0)
    body, _, mac = token.partition(".")
    with pytest.raises(TokenError, match="signature"):
        signer.session(f"{body}x.{mac}", now=1001.0)
    with pytest.raises(TokenError, match="signature"):
        TokenSigner(b"t" * 32).session(token, now=1001.0)
    _, ticket = signer.new_login_ticket(now=1000.0, ttl=60)
    with pytest.raises(TokenError):
        signer.session(ticket, now=1001.0)  # a login ticket is not a session
    with pytest.raises(TokenError):
        signer.login_ticket(token, now=1001.0)  # and the other way round
    assert signer.login_ticket(ticket, now=1001.0).nonce
    for bad in (None, "", ".", "a.b", "é.x", "x" * 3000):
        with pytest.raises(TokenError):
            signer.session(bad, now=1001.0)
    with pytest.raises(ValueError, match="32 bytes"):
        TokenSigner(b"short")


def test_two_sessions_have_different_csrf_secrets() -> None:
    signer = TokenSigner(KEY)
    a, _ = signer.new_session("123456789012", "AKIA1", now=0.0, ttl=60)
    b, _ = signer.new_session("123456789012", "AKIA1", now=0.0, ttl=60)
    assert a.csrf != b.csrf and len(a.csrf) >= 40


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (10, "Critical"),
        (9.0, "Critical"),
        (8.9, "High"),
        (7, "High"),
        (6.99, "Medium"),
        (4.0, "Medium"),
        (3.9, "Low"),
        (1, "Low"),
        ("9", "Low"),
        (None, "Low"),
        (True, "Low"),
    ],
)
def test_severity_bands_are_guarddutys(value: Any, band: str) -> None:
    assert severity_band(value) == band
    assert severity_class(value) == f"sev-{band.lower()}"


def test_links_stay_in_the_console_and_encode_parameters() -> None:
    assert link("/console/findings", type="A&B", empty="", none=None) == "/console/findings?type=A%26B"
    assert (
        link("/console/agents", agent="javascript:alert(1)")
        == "/console/agents?agent=javascript%3Aalert%281%29"
    )
    for bad in ("javascript:alert(1)", "//evil.example", "https://evil.example/console"):
        with pytest.raises(ValueError):
            link(bad)


def test_issue_targets_name_what_to_relaunch_and_redeploy() -> None:
    targets = issue_targets(
        [
            "Agent not provisioned : Tasks started before enabling Runtime Monitoring require a relaunch. "
            "Impacted task ID(s): 'a1, b2'",
            "Agent not provisioned : Service 'web' requires a new deployment to fix/troubleshoot. Refer "
            "documentation, Impacted service name(s): 'web'",
            "Agent not reporting : Agent not reporting for tasks in TaskDefinition - 'web:3'. Impacted task ID(s): 'c3'",
            "Agent not reporting : Agent disconnected on 1 of 2 container instance(s): 'i-0abc'",
            "Others : Unidentified issue(s), for task(s) in TaskDefinition 'buildkite:17' . Refer documentation",
        ]
    )
    assert targets == {
        "tasks": ["a1", "b2", "c3"],
        "services": ["web"],
        "task_definitions": ["web:3", "buildkite:17"],
        "instances": ["i-0abc"],
    }
    assert issue_targets(["VPC Endpoint Creation Failed : something"]) == {
        "tasks": [], "services": [], "task_definitions": [], "instances": []
    }  # fmt: skip


def test_agent_rows_survive_malformed_heartbeats() -> None:
    beat: dict[str, Any] = {
        "agent_id": "a",
        "sensor": 7,
        "resource": "not a mapping",
        "dropped": {"queue_full": 5, "negative": -3, "boolean": True, "text": "9", "float": 1.5},
        "events_sent": "many",
        "processes_tracked": 12,
        "blind_spots": "not a list",
    }
    record = AgentRecord(
        agent_id="a", account_id="1", first_seen=0.0, last_seen=100.0, enabled=True, beat=beat
    )
    row = agent_row(record, now=150.0, timeout=60.0)
    assert row.health == "reporting"
    assert row.sensor == "7"
    assert row.dropped == [("queue_full", 5)] and row.dropped_total == 5
    assert row.counters == [("Processes tracked", "12")]
    assert row.blind_spots == [] and row.resource == []
    assert agent_row(record, now=161.0, timeout=60.0).health == "not reporting"
    off = AgentRecord(agent_id="a", account_id="1", first_seen=0.0, last_seen=100.0, enabled=False, beat={})
    assert agent_row(off, now=100.0, timeout=60.0).health == "disabled"
    assert drops_by_reason([row, row]) == [("queue_full", 10, 2)]
