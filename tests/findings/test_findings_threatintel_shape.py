"""Threat-intel findings carry ``service.action`` (DNS_REQUEST or NETWORK_CONNECTION, built from
the event payload) and ``service.evidence.threatIntelligenceDetails``; other findings do not."""

from __future__ import annotations

from typing import Any

from rtguard.detect.detectors.threatintel import ThreatIntelDetector
from rtguard.findings.build import FindingContext, build_finding
from rtguard.model.events import Event, EventKind, NetPayload
from rtguard.model.findings import Detection
from rtguard.testing.events import connect_event, dns_event, event, exec_event

CTX = FindingContext(account_id="123456789012", region="us-east-1", detector_id="d" * 32)


def _finding(ev: Event) -> Any:
    det = ThreatIntelDetector()
    dets = det.on_event(ev, det.new_state())
    assert len(dets) == 1, dets
    return build_finding(CTX, dets[0], now_ns=ev.time)


def test_dns_finding_action_and_evidence() -> None:
    f = _finding(dns_event("Sub.C2.GuardDutyC2ActivityB.com.", answers=["10.0.0.9"]))
    assert f["type"] == "Backdoor:Runtime/C&CActivity.B!DNS" and f["severity"] == 8.0
    assert f["service"]["action"] == {
        "actionType": "DNS_REQUEST",
        "dnsRequestAction": {
            "domain": "Sub.C2.GuardDutyC2ActivityB.com",
            "protocol": "UDP",
            "blocked": False,
            "domainWithSuffix": "guarddutyc2activityb.com",
        },
    }
    assert f["service"]["evidence"] == {
        "threatIntelligenceDetails": [{"threatListName": "rtguard-builtin-test", "threatNames": ["Test C&C"]}]
    }


def test_severities_follow_guardduty() -> None:
    sev = {
        "guarddutyblackholeactivity.com": 5.0,
        "guarddutydroppointactivity.com": 5.0,
        "suspicious-rep.guarddutyc2activityb.com": 2.0,
        "abused-rep.guarddutyc2activityb.com": 5.0,
        "malicious-rep.guarddutyc2activityb.com": 8.0,
        "guarddutyphishingactivity.com": 8.0,
    }
    for domain, want in sev.items():
        assert _finding(dns_event(domain))["severity"] == want, domain
    assert _finding(connect_event("198.51.100.40"))["severity"] == 5.0


def test_connection_finding_action() -> None:
    f = _finding(connect_event("198.51.100.20", 3333, local_ip="10.0.0.5", local_port=40001))
    assert f["type"] == "CryptoCurrency:Runtime/BitcoinTool.B"
    action = f["service"]["action"]
    assert action["actionType"] == "NETWORK_CONNECTION"
    nca = action["networkConnectionAction"]
    assert nca["connectionDirection"] == "OUTBOUND" and nca["protocol"] == "TCP" and nca["blocked"] is False
    assert nca["remoteIpDetails"] == {"ipAddressV4": "198.51.100.20"}
    assert nca["remotePortDetails"]["port"] == 3333
    assert nca["localIpDetails"] == {"ipAddressV4": "10.0.0.5"} and nca["localPortDetails"]["port"] == 40001
    assert f["service"]["evidence"]["threatIntelligenceDetails"][0]["threatNames"] == ["Test crypto-currency"]


def test_tor_relay_is_inbound_and_rebind_has_no_evidence() -> None:
    payload = NetPayload(family=2, protocol=6, local_ip="10.0.0.5", local_port=9001, remote_ip="203.0.113.52",
                         remote_port=50000, direction="INBOUND")  # fmt: skip
    f = _finding(event(EventKind.NET_ACCEPT, payload, name="tor"))
    assert f["type"] == "UnauthorizedAccess:Runtime/TorRelay"
    assert f["service"]["action"]["networkConnectionAction"]["connectionDirection"] == "INBOUND"
    r = _finding(dns_event("rebind.example", answers=["169.254.169.254"]))
    assert r["type"] == "UnauthorizedAccess:Runtime/MetadataDNSRebind"
    assert r["service"]["action"]["dnsRequestAction"]["domain"] == "rebind.example"
    assert "evidence" not in r["service"]


def test_behavioural_findings_get_no_action_or_evidence() -> None:
    d = Detection(finding_type="Impact:Runtime/CryptoMinerExecuted", event=exec_event("xmrig"),
                  rule_id="RTG-0001", artifact="/usr/bin/xmrig")  # fmt: skip
    f: Any = build_finding(CTX, d, now_ns=0)
    assert "action" not in f["service"] and "evidence" not in f["service"]
