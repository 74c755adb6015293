"""User lists reach the threat-intel detector through the worker: a STIX 2.1 ThreatIntelSet and
a TXT IPSet stored for the account's detector, read by ``StoreIntelProvider``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rtguard.bus.memory import MemoryBus
from rtguard.detect import build_engine
from rtguard.intel.parse import parse_stix, parse_txt
from rtguard.intel.view import StoreIntelProvider
from rtguard.model.codec import encode_event
from rtguard.store.lifecycle import IntelKind, IntelSetRecord
from rtguard.store.sqlite import SqlStore
from rtguard.testing.events import connect_event, dns_event
from rtguard.worker import DetectionWorker

ACCOUNT = "123456789012"
STIX = json.dumps(
    {
        "type": "bundle",
        "id": "bundle--1",
        "objects": [
            {"type": "indicator", "id": "indicator--1", "pattern_type": "stix",
             "pattern": "[domain-name:value = 'evil.example'] OR [ipv4-addr:value = '203.0.113.77']"},
        ],
    }
)  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = SqlStore(f"sqlite:///{tmp_path / 'w.db'}")
    s.create_account(ACCOUNT, "us-east-1")
    yield s
    s.close()


def _put(store: Any, det: str, kind: IntelKind, name: str, entries: dict[str, Any]) -> None:
    store.put_intel_set(
        IntelSetRecord(set_id=name, detector_id=det, account_id=ACCOUNT, kind=kind, name=name,
                       format="STIX" if kind is IntelKind.THREAT_INTEL_SET else "TXT", location="/x",
                       status="ACTIVE", entries=entries)
    )  # fmt: skip


def _run(store: Any, *, wired: bool) -> list[tuple[str, str]]:
    engine, _ = build_engine(shipped=False)
    provider = StoreIntelProvider(store)
    worker = DetectionWorker(store, engine, MemoryBus(), region="us-east-1",
                             intel=provider.view if wired else None)  # fmt: skip
    events = [
        dns_event("www.Evil.Example."),
        connect_event("203.0.113.77"),
        connect_event("198.51.100.10"),  # built-in C&C test address, trusted below
        connect_event("198.51.100.20"),  # built-in crypto test address
    ]
    lines = [json.dumps(encode_event(e)) for e in events]
    assert store.record_batch(ACCOUNT, "agent-1", 1, lines)
    worker.run_once()
    det = store.list_detectors(ACCOUNT)[0]
    page = store.query_findings(det, [], None, 50, None)
    out = []
    for f in store.get_findings(det, page.ids):
        intel = f["service"]["evidence"]["threatIntelligenceDetails"][0]["threatListName"]
        out.append((f["type"], intel))
    return sorted(out)


def test_user_stix_threat_list_and_txt_ipset_through_the_worker(store: Any) -> None:
    det = store.create_detector(ACCOUNT)
    _put(store, det, IntelKind.THREAT_INTEL_SET, "stix-threats", parse_stix(STIX).to_json())
    _put(store, det, IntelKind.IP_SET, "trusted", parse_txt("198.51.100.10\n").to_json())
    assert _run(store, wired=True) == [
        ("Backdoor:Runtime/C&CActivity.B", "stix-threats"),
        ("Backdoor:Runtime/C&CActivity.B!DNS", "stix-threats"),
        ("CryptoCurrency:Runtime/BitcoinTool.B", "rtguard-builtin-test"),
    ]


def test_without_the_wiring_only_the_builtin_feed_applies(store: Any) -> None:
    det = store.create_detector(ACCOUNT)
    _put(store, det, IntelKind.THREAT_INTEL_SET, "stix-threats", parse_stix(STIX).to_json())
    _put(store, det, IntelKind.IP_SET, "trusted", parse_txt("198.51.100.10\n").to_json())
    assert _run(store, wired=False) == [
        ("Backdoor:Runtime/C&CActivity.B", "rtguard-builtin-test"),
        ("CryptoCurrency:Runtime/BitcoinTool.B", "rtguard-builtin-test"),
    ]
