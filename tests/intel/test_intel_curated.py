"""The curated built-in entries (mining pools, dynamic DNS and abused TLD suffixes, a sinkholed
domain, Tor directory authorities), suffix matching, feed format version 2 and local feed
directories, checked through the threat-intel detector."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtguard.detect.detectors.threatintel import ThreatIntelDetector, intel_scope
from rtguard.intel.feed import CATEGORIES, FEED_PATH, BuiltinFeed, FeedError, builtin_feed, load_feed
from rtguard.intel.nettable import NetworkTable
from rtguard.intel.parse import parse_txt
from rtguard.intel.view import IntelView
from rtguard.model.findings import FINDING_TYPES_BY_NAME, Detection
from rtguard.store.lifecycle import IntelKind, IntelSetRecord
from rtguard.testing.events import connect_event, dns_event

CRYPTO_DNS = "CryptoCurrency:Runtime/BitcoinTool.B!DNS"
ABUSED = "Impact:Runtime/AbusedDomainRequest.Reputation"
TOR_CLIENT = "UnauthorizedAccess:Runtime/TorClient"


def _types(dets: list[Detection]) -> list[str]:
    return [d.finding_type for d in dets]


def _dns(name: str, det: ThreatIntelDetector | None = None) -> list[Detection]:
    d = det or ThreatIntelDetector()
    return d.on_event(dns_event(name), d.new_state())


@pytest.mark.parametrize(
    ("query", "ftype"),
    [("pool.supportxmr.com", CRYPTO_DNS), ("gulf.moneroocean.stream", CRYPTO_DNS),
     ("xmr-eu1.nanopool.org", CRYPTO_DNS), ("stratum.braiins.com", CRYPTO_DNS),
     ("donate.v2.xmrig.com", CRYPTO_DNS), ("my-c2.duckdns.org", ABUSED), ("a.b.ddns.net", ABUSED),
     ("login-bank.tk", ABUSED), ("WWW.Example.GQ.", ABUSED),
     ("iuqerfsodp9ifjaposdfjhgosurijfaewrwergwea.com", "Trojan:Runtime/BlackholeTraffic!DNS")],
)  # fmt: skip
def test_curated_domains_give_their_category_type(query: str, ftype: str) -> None:
    dets = _dns(query)
    assert _types(dets) == [ftype]
    assert ftype in FINDING_TYPES_BY_NAME
    detail = dets[0].evidence[0]
    assert detail.threat_list_name == "rtguard-builtin" and detail.threat_names


@pytest.mark.parametrize(
    "query",
    ["duckdns.org", "www.duckdns.org", "checkip.dyndns.org", "CheckIP.DynDNS.org.", "members.dyndns.org",
     "www.duckdns.org.evil.example", "tk", "xmrig.com", "github.com", "supportxmr.com.example",
     "notsupportxmr.com", "example.com", "tk.example.com"],
)  # fmt: skip
def test_suffix_apex_lookalikes_and_ordinary_names_do_not_match(query: str) -> None:
    assert _dns(query) == []


def test_tor_directory_authorities_give_tor_client_v4_and_v6() -> None:
    det = ThreatIntelDetector()
    for ip in ("128.31.0.39", "171.25.193.9", "2001:67C:289C::9"):
        dets = det.on_event(connect_event(ip, 443, name="tor"), det.new_state())
        assert _types(dets) == [TOR_CLIENT], ip
        assert dets[0].evidence[0].threat_list_name == "rtguard-builtin-tor"
    assert det.on_event(connect_event("128.31.0.40", 443), det.new_state()) == []


def test_a_trusted_ip_never_produces_a_finding_even_for_a_curated_entry() -> None:
    trusted = IntelSetRecord(
        detector_id="d", account_id="a", kind=IntelKind.IP_SET, set_id="i1", name="ours", format="TXT",
        location="/y", status="ACTIVE", entries=parse_txt("128.31.0.0/24\n10.9.9.9\n").to_json(),
    )  # fmt: skip
    det = ThreatIntelDetector()
    with intel_scope(IntelView([trusted])):
        assert det.on_event(connect_event("128.31.0.39", 9201), det.new_state()) == []
        assert det.on_event(dns_event("pool.supportxmr.com", answers=["10.9.9.9"]), det.new_state()) == []


def test_every_curated_group_names_source_reason_and_a_known_category() -> None:
    raw = json.loads(FEED_PATH.read_text())
    assert raw["version"] == 2
    curated = [g for g in raw["categories"] if not g.get("test")]
    assert {g["category"] for g in curated} >= {"crypto", "abused-reputation", "blackhole", "tor-authority"}
    for group in curated:
        assert group["source"] and group["reason"] and group["category"] in CATEGORIES
    tests = [g for g in raw["categories"] if g.get("test")]
    assert len(tests) == 11 and raw["tor"]["test"] is True
    feed = builtin_feed()
    assert not set(feed.domains) & set(feed.suffixes)
    for net in feed.tor_nodes:
        assert not net.is_private or net.subnet_of(ipaddress.ip_network("203.0.113.0/24"))  # type: ignore[arg-type]


def test_nearest_entry_wins_between_domains_and_suffixes() -> None:
    feed = BuiltinFeed({"version": 2, "categories": [
        {"category": "abused-reputation", "threatListName": "l", "suffixes": ["example"]},
        {"category": "c2", "threatListName": "l", "domains": ["bad.example"]},
        {"category": "phishing", "threatListName": "l", "suffixes": ["bad.example"]}]})  # fmt: skip
    assert (hit := feed.domain("x.bad.example")) is not None and hit[1].category == "c2"
    assert (hit := feed.domain("bad.example")) is not None and hit[1].category == "c2"
    assert (hit := feed.domain("good.example")) is not None and hit[1].category == "abused-reputation"
    assert feed.domain("example") is None


def test_exceptions_are_the_nearest_entry_and_match_nothing() -> None:
    feed = BuiltinFeed({"version": 2, "categories": [
        {"category": "abused-reputation", "threatListName": "l", "suffixes": ["dyn.example"],
         "exceptions": ["api.dyn.example", "exact.dyn.example"]},
        {"category": "c2", "threatListName": "l", "domains": ["exact.dyn.example", "bad.api.dyn.example"]}]})  # fmt: skip
    assert feed.domain("api.dyn.example") is None and feed.domain("v2.api.dyn.example") is None
    assert (hit := feed.domain("bad.api.dyn.example")) is not None and hit[1].category == "c2", "nearer wins"
    assert (hit := feed.domain("exact.dyn.example")) is not None and hit[1].category == "c2"
    assert (hit := feed.domain("other.dyn.example")) is not None and hit[1].category == "abused-reputation"
    assert "checkip.dyndns.org" in builtin_feed().exceptions
    with pytest.raises(FeedError, match="addresses only"):
        BuiltinFeed(
            {"categories": [{"category": "tor-relay", "threatListName": "l", "exceptions": ["a.example"]}]}
        )


def test_version_1_documents_are_still_read_and_bad_documents_are_refused() -> None:
    v1 = {"categories": [{"category": "x", "threatListName": "l", "dnsType": "T!DNS", "domains": ["a.example"]}],
          "tor": {"guards": ["192.0.2.1"]}}  # fmt: skip
    feed = BuiltinFeed(v1)
    assert (hit := feed.domain("a.example")) is not None and hit[1].dns_type == "T!DNS"
    bad: list[tuple[Any, str]] = [
        ({"version": 3}, "unsupported feed version"),
        ({"categories": [{"category": "nope", "threatListName": "l"}]}, "unknown category 'nope'"),
        ({"categories": [{"category": "tor-guard", "threatListName": "l", "domains": ["a.example"]}]},
         "addresses only"),
        ({"categories": [{"category": "c2", "threatListName": "l", "ips": ["1.2.3.4/99\x1b[31m"]}]},
         r"invalid IP address or CIDR block '1\.2\.3\.4/99\\x1b\[31m'"),
        ({"categories": [{"category": "c2", "threatListName": "l", "domains": ["tk"]}]}, "invalid domain 'tk'"),
        ({"categories": [{"category": "c2"}]}, "'threatListName' must be a non-empty string"),
        ({"categories": "x"}, "'categories' must be a list"),
    ]  # fmt: skip
    for document, message in bad:
        with pytest.raises(FeedError, match=message):
            BuiltinFeed(document)


def test_load_feed_adds_local_directories_after_the_shipped_feed(tmp_path: Path) -> None:
    doc = {"version": 2, "categories": [
        {"category": "phishing", "threatListName": "local", "domains": ["phish.example", "guarddutydgaactivity.com", "*.Wild.Example"]},
        {"category": "tor-guard", "threatListName": "local-tor", "ips": ["192.0.2.77"]}]}  # fmt: skip
    (tmp_path / "local.json").write_text(json.dumps(doc))
    (tmp_path / ".partial.json.tmp").write_text("{broken")
    (tmp_path / "notes.txt").write_text("ignored")
    det = ThreatIntelDetector(load_feed([tmp_path]))
    assert _types(_dns("www.phish.example", det)) == ["Trojan:Runtime/PhishingDomainRequest!DNS"]
    assert _types(_dns("guarddutydgaactivity.com", det)) == ["Trojan:Runtime/DGADomainRequest.C!DNS"]
    assert _types(_dns("x.wild.example", det)) == ["Trojan:Runtime/PhishingDomainRequest!DNS"]
    assert _types(det.on_event(connect_event("192.0.2.77", 9001), det.new_state())) == [TOR_CLIENT]
    assert _dns("www.phish.example") == [], "the shipped detector is not changed"
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(FeedError, match=r"broken\.json: not a JSON feed document"):
        load_feed([tmp_path])
    with pytest.raises(FeedError, match="not a directory"):
        load_feed([tmp_path / "missing"])


_NETS = st.builds(lambda ip, p: ipaddress.ip_network(f"{ip}/{p}", strict=False),
                  st.ip_addresses(v=4), st.integers(0, 32))  # fmt: skip


@given(st.lists(_NETS, max_size=30), st.lists(st.ip_addresses(v=4), min_size=1, max_size=20))
def test_network_table_agrees_with_a_linear_scan_most_specific_first(
    nets: list[ipaddress.IPv4Network], probes: list[ipaddress.IPv4Address]
) -> None:
    table: NetworkTable[str] = NetworkTable()
    for net in nets:
        table.add(net, str(net))
    for address in probes:
        holding = [n for n in nets if address in n]
        expected = str(max(holding, key=lambda n: n.prefixlen)) if holding else None
        assert table.find(address) == expected
    assert len(table) == len(set(nets))
