"""The threat-intel detector: built-in feed by category, parent domains, case, trailing dots,
hostile names, user lists, trusted IPs winning, MetadataDNSRebind and the Tor patterns."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from rtguard.detect.detectors import BUILTIN
from rtguard.detect.detectors.threatintel import ThreatIntelDetector, intel_scope
from rtguard.detect.engine import build_engine
from rtguard.intel.feed import FEED_PATH, builtin_feed
from rtguard.intel.parse import parse_txt
from rtguard.intel.view import IntelView
from rtguard.model.events import Event, EventKind, NetPayload
from rtguard.model.findings import FINDING_TYPES_BY_NAME, Detection
from rtguard.store.lifecycle import IntelKind, IntelSetRecord
from rtguard.testing.events import connect_event, dns_event, event

# Reference §9: GuardDuty's test domains and the runtime finding each must produce.
SECTION_9 = {
    "c2.guarddutyc2activityb.com": "Backdoor:Runtime/C&CActivity.B!DNS",
    "crypto.guarddutyc2activityb.com": "CryptoCurrency:Runtime/BitcoinTool.B!DNS",
    "abused-rep.guarddutyc2activityb.com": "Impact:Runtime/AbusedDomainRequest.Reputation",
    "crypto-rep.guarddutyc2activityb.com": "Impact:Runtime/BitcoinDomainRequest.Reputation",
    "malicious-rep.guarddutyc2activityb.com": "Impact:Runtime/MaliciousDomainRequest.Reputation",
    "suspicious-rep.guarddutyc2activityb.com": "Impact:Runtime/SuspiciousDomainRequest.Reputation",
    "guarddutyblackholeactivity.com": "Trojan:Runtime/BlackholeTraffic!DNS",
    "guarddutydgaactivity.com": "Trojan:Runtime/DGADomainRequest.C!DNS",
    "guarddutydrivebyactivity.com": "Trojan:Runtime/DriveBySourceTraffic!DNS",
    "guarddutydroppointactivity.com": "Trojan:Runtime/DropPoint!DNS",
    "guarddutyphishingactivity.com": "Trojan:Runtime/PhishingDomainRequest!DNS",
}
IP_TYPES = {
    "198.51.100.10": "Backdoor:Runtime/C&CActivity.B",
    "198.51.100.20": "CryptoCurrency:Runtime/BitcoinTool.B",
    "198.51.100.30": "Trojan:Runtime/BlackholeTraffic",
    "198.51.100.40": "Trojan:Runtime/DropPoint",
}
TOR_GUARD, TOR_AUTHORITY, TOR_RELAY = "203.0.113.50", "203.0.113.51", "203.0.113.52"


def _types(dets: list[Detection]) -> list[str]:
    return [d.finding_type for d in dets]


def _run(ev: Event, det: ThreatIntelDetector | None = None) -> list[Detection]:
    d = det or ThreatIntelDetector()
    return d.on_event(ev, d.new_state())


def _view(*, threats: str = "", trusted: str = "") -> IntelView:
    records = []
    if threats:
        records.append(
            IntelSetRecord(
                detector_id="d", account_id="a", kind=IntelKind.THREAT_INTEL_SET, set_id="t1", name="my-threats",
                format="TXT", location="/x", status="ACTIVE", entries=parse_txt(threats).to_json(),
            )
        )  # fmt: skip
    if trusted:
        records.append(
            IntelSetRecord(
                detector_id="d", account_id="a", kind=IntelKind.IP_SET, set_id="i1", name="my-trusted",
                format="TXT", location="/y", status="ACTIVE", entries=parse_txt(trusted).to_json(),
            )
        )  # fmt: skip
    return IntelView(records)


def test_the_detector_is_registered_and_runs_in_the_shipped_engine() -> None:
    assert any(isinstance(d, ThreatIntelDetector) for d in BUILTIN)
    engine, _ = build_engine()
    assert "Backdoor:Runtime/C&CActivity.B!DNS" in _types(
        engine.evaluate(dns_event("c2.guarddutyc2activityb.com"))
    )


@pytest.mark.parametrize(("domain", "ftype"), sorted(SECTION_9.items()))
def test_each_guardduty_test_domain_gives_exactly_its_type(domain: str, ftype: str) -> None:
    dets = _run(dns_event(domain))
    assert _types(dets) == [ftype]
    assert dets[0].artifact == domain
    assert dets[0].evidence and dets[0].evidence[0].threat_list_name.startswith("rtguard-builtin")
    assert ftype in FINDING_TYPES_BY_NAME


def test_every_section_1a_type_is_reachable() -> None:
    produced = {builtin_feed().domains[d].dns_type for d in builtin_feed().domains}
    produced |= {c.ip_type for c in builtin_feed().categories if c.ip_type}
    produced |= {"UnauthorizedAccess:Runtime/TorClient", "UnauthorizedAccess:Runtime/TorRelay",
                 "UnauthorizedAccess:Runtime/MetadataDNSRebind"}  # fmt: skip
    section_1a = {t for t in FINDING_TYPES_BY_NAME if t in set(SECTION_9.values()) | set(IP_TYPES.values())}
    assert section_1a <= produced
    assert len(produced) == 18


def test_feed_ips_are_test_entries_in_documentation_ranges() -> None:
    import ipaddress

    feed = builtin_feed()
    docs = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
    assert all(c.test or (c.source and c.reason) for c in feed.categories), "curated groups name a source"
    assert all(any(net.version == 4 and net.subnet_of(d) for d in docs) for net in feed.ips)  # type: ignore[arg-type]
    raw = json.loads(FEED_PATH.read_text())
    for ip in raw["tor"]["guards"] + raw["tor"]["authorities"] + raw["tor"]["relays"]:
        assert any(ipaddress.ip_address(ip) in d for d in docs)
    assert raw["tor"]["test"] is True


@pytest.mark.parametrize(
    "query",
    ["C2.GuardDutyC2ActivityB.COM", "c2.guarddutyc2activityb.com.", " c2.guarddutyc2activityb.com ",
     "deep.sub.c2.guarddutyc2activityb.com", "x.guarddutyc2activityb.com", "guarddutyc2activityb.com"],
)  # fmt: skip
def test_case_trailing_dots_and_parent_domains(query: str) -> None:
    assert _types(_run(dns_event(query))) == ["Backdoor:Runtime/C&CActivity.B!DNS"]


def test_nearest_parent_wins() -> None:
    assert _types(_run(dns_event("a.crypto.guarddutyc2activityb.com"))) == [
        "CryptoCurrency:Runtime/BitcoinTool.B!DNS"
    ]


@pytest.mark.parametrize(
    "query",
    ["guarddutyc2activityb.com.evil.example", "notguarddutyc2activityb.com", "guarddutyc2activityb",
     "com", "", ".", "c2..guarddutyc2activityb.com", "c2.guarddutyc2activityb.com\x00",
     "c2.guarddutyc2activityb\n.com", "c2 guarddutyc2activityb.com", "a" * 64 + ".guarddutyc2activityb.com",
     ("a." * 130) + "guarddutyc2activityb.com", "\udcff.guarddutyc2activityb.com"],
)  # fmt: skip
def test_lookalike_and_hostile_names_do_not_match(query: str) -> None:
    assert _run(dns_event(query)) == []


def test_idna_names_are_matched_in_their_ascii_form() -> None:
    det = ThreatIntelDetector()
    with intel_scope(_view(threats="xn--bcher-kva.example\n")):
        dets = det.on_event(dns_event("shop.BÜCHER.example"), det.new_state())
    assert _types(dets) == ["Backdoor:Runtime/C&CActivity.B!DNS"]
    assert dets[0].artifact == "shop.xn--bcher-kva.example"
    assert dets[0].evidence[0].threat_list_name == "my-threats"


@pytest.mark.parametrize(("ip", "ftype"), sorted(IP_TYPES.items()))
def test_connections_to_listed_ips(ip: str, ftype: str) -> None:
    dets = _run(connect_event(ip, 443))
    assert _types(dets) == [ftype]
    assert dets[0].artifact == ip


def test_unlisted_ip_and_unlisted_domain_give_nothing() -> None:
    assert _run(connect_event("198.51.100.7")) == []
    assert _run(dns_event("example.com", answers=["93.184.216.34"])) == []


def test_metadata_dns_rebind_on_the_answer_only() -> None:
    assert _types(_run(dns_event("rebind.example", answers=["10.0.0.1", "169.254.169.254"]))) == [
        "UnauthorizedAccess:Runtime/MetadataDNSRebind"
    ]
    assert _types(_run(dns_event("rebind6.example", answers=["FD00:EC2::254"]))) == [
        "UnauthorizedAccess:Runtime/MetadataDNSRebind"
    ]
    assert _run(dns_event("169.254.169.254.example", answers=["10.0.0.1"])) == []
    both = _types(_run(dns_event("guarddutydgaactivity.com", answers=["169.254.169.254"])))
    assert both == ["Trojan:Runtime/DGADomainRequest.C!DNS", "UnauthorizedAccess:Runtime/MetadataDNSRebind"]


def test_user_threat_list_domain_and_ip() -> None:
    det = ThreatIntelDetector()
    with intel_scope(_view(threats="bad.example\n203.0.113.0/28\n")):
        dns = det.on_event(dns_event("www.bad.example"), det.new_state())
        ip = det.on_event(connect_event("203.0.113.9"), det.new_state())
    assert _types(dns) == ["Backdoor:Runtime/C&CActivity.B!DNS"]
    assert dns[0].evidence[0].threat_names == ("bad.example",)
    assert _types(ip) == ["Backdoor:Runtime/C&CActivity.B"]
    assert det.on_event(dns_event("www.bad.example"), det.new_state()) == [], "no scope, no user list"


def test_trusted_ip_wins_over_builtin_and_user_lists() -> None:
    det = ThreatIntelDetector()
    view = _view(threats="198.51.100.0/24\n", trusted="198.51.100.10\n203.0.113.50\n10.1.2.3\n")
    with intel_scope(view):
        assert det.on_event(connect_event("198.51.100.10"), det.new_state()) == []
        assert det.on_event(connect_event(TOR_GUARD), det.new_state()) == []
        dns = det.on_event(dns_event("c2.guarddutyc2activityb.com", answers=["10.1.2.3"]), det.new_state())
        assert dns == []
        assert _types(det.on_event(connect_event("198.51.100.20"), det.new_state())) == [
            "CryptoCurrency:Runtime/BitcoinTool.B"
        ]


def _accept(remote: str) -> Event:
    payload = NetPayload(family=2, protocol=6, local_ip="10.0.0.5", local_port=9001, remote_ip=remote,
                         remote_port=50000, direction="INBOUND")  # fmt: skip
    return event(EventKind.NET_ACCEPT, payload, name="tor", exec_id="tor-1")


def test_tor_client_and_relay_patterns() -> None:
    det = ThreatIntelDetector()
    state = det.new_state()
    assert _types(det.on_event(connect_event(TOR_GUARD, 9001, name="tor"), state)) == [
        "UnauthorizedAccess:Runtime/TorClient"
    ]
    assert _types(det.on_event(connect_event(TOR_AUTHORITY, 9030, name="tor"), state)) == [
        "UnauthorizedAccess:Runtime/TorClient"
    ]
    assert det.on_event(connect_event(TOR_RELAY, 9001, name="tor"), state) == []
    assert _types(det.on_event(_accept(TOR_RELAY), state)) == ["UnauthorizedAccess:Runtime/TorRelay"]
    assert _types(det.on_event(connect_event(TOR_GUARD, 9001, name="tor", exec_id="tor-1"), state)) == [
        "UnauthorizedAccess:Runtime/TorRelay"
    ], "a process seen relaying is a relay, not a client"
    assert det.on_event(_accept("198.51.100.99"), det.new_state()) == []


@dataclass
class _Broken:
    def is_trusted(self, ip: str) -> bool:
        raise RuntimeError("boom")

    def threat_ip(self, ip: str) -> None:
        return None

    def threat_domain(self, domain: str) -> None:
        return None


def test_a_failing_user_view_is_contained_by_the_engine() -> None:
    engine, _ = build_engine()
    with intel_scope(_Broken()):
        assert engine.evaluate(connect_event("198.51.100.10")) == []
    assert engine.errors["RTG-0900"] == 1
