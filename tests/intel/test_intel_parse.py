"""Property and example tests of the pure list parsers (TXT, STIX 2.1) and the intel view."""

from __future__ import annotations

import contextlib
import ipaddress
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtguard.intel import IntelParseError, IntelView, parse_list, parse_stix, parse_txt
from rtguard.intel.parse import IntelEntries, normalize_domain
from rtguard.store.lifecycle import IntelKind, IntelSetRecord

_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
domains = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(_label, min_size=1, max_size=3),
                    st.sampled_from(["com", "example", "net", "io"]))  # fmt: skip
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
networks = st.builds(
    lambda ip, p: str(ipaddress.ip_network(f"{ip}/{p}", strict=False)), ipv4, st.integers(8, 32)
)


def _expected(values: list[str]) -> tuple[list[str], list[str]]:
    nets = [str(ipaddress.ip_network(v, strict=False)) for v in values if normalize_domain(v) is None]
    names = [v for v in values if normalize_domain(v) is not None]
    return list(dict.fromkeys(nets)), list(dict.fromkeys(names))


@given(st.lists(st.one_of(ipv4, ipv6, networks, domains), max_size=30))
def test_txt_round_trip(values: list[str]) -> None:
    text = "# a list\n" + "\n".join(f"  {v}  # note" for v in values) + "\n\n"
    parsed = parse_txt(text)
    nets, names = _expected(values)
    assert (list(parsed.networks), list(parsed.domains), parsed.skipped) == (nets, names, 0)


@given(st.lists(st.one_of(ipv4, ipv6, networks, domains), max_size=30))
def test_stix_round_trip(values: list[str]) -> None:
    def obj(v: str) -> dict[str, str]:
        if normalize_domain(v) is not None:
            return {"type": "indicator", "pattern": f"[domain-name:value = '{v}']"}
        version = ipaddress.ip_network(v, strict=False).version
        op = "ISSUBSET" if "/" in v else "="
        return {
            "type": "indicator",
            "pattern_type": "stix",
            "pattern": f"[ipv{version}-addr:value {op} '{v}']",
        }

    bundle = {"type": "bundle", "id": "bundle--x", "objects": [obj(v) for v in values]}
    parsed = parse_stix(json.dumps(bundle))
    nets, names = _expected(values)
    assert (list(parsed.networks), list(parsed.domains), parsed.skipped) == (nets, names, 0)


@given(st.text(max_size=200))
def test_parsers_never_raise_on_text(text: str) -> None:
    parse_txt(text)
    with contextlib.suppress(IntelParseError):
        parse_stix(text)


def test_bad_entries_are_counted_with_locations() -> None:
    parsed = parse_txt("198.51.100.1\nnot valid!\n999.1.1.1\n")
    assert parsed.networks == ("198.51.100.1/32",) and parsed.skipped == 2
    assert parsed.errors[0].startswith("line 2:")
    stix = parse_stix(json.dumps([{"type": "indicator", "pattern": "[file:name = 'x']"}, 5]))
    assert stix.skipped == 2
    with pytest.raises(IntelParseError):
        parse_stix("{not json")
    with pytest.raises(IntelParseError):
        parse_list("x", "FIRE_EYE")


def test_trusted_addresses_override_threats() -> None:
    def record(kind: IntelKind, entries: IntelEntries, status: str = "ACTIVE") -> IntelSetRecord:
        return IntelSetRecord(set_id=kind.value, detector_id="d", account_id="1", kind=kind, name=kind.value,
                              format="TXT", location="/x", status=status, entries=entries.to_json())  # fmt: skip

    view = IntelView(
        [
            record(IntelKind.THREAT_INTEL_SET, parse_txt("203.0.113.0/24\nbad.example")),
            record(IntelKind.IP_SET, parse_txt("203.0.113.7")),
            record(IntelKind.THREAT_INTEL_SET, parse_txt("198.51.100.1"), status="INACTIVE"),
        ]
    )
    hit = view.threat_ip("203.0.113.8")
    assert hit is not None and hit.entry == "203.0.113.0/24"
    assert view.threat_ip("203.0.113.7") is None and view.is_trusted("203.0.113.7")
    assert view.threat_ip("198.51.100.1") is None and view.threat_ip("not an ip") is None
    assert view.threat_domain("A.BAD.EXAMPLE.") is not None and view.threat_domain("example") is None
    assert view.list_count == 2
