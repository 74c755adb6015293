"""The built-in feed and the DNS name normaliser (properties with Hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rtguard.intel.feed import BuiltinFeed, builtin_feed, normalize_query_name, parent_domains

_LABEL = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?", fullmatch=True)
_NAME = st.lists(_LABEL, min_size=2, max_size=6).map(".".join)


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_normaliser_is_total_idempotent_and_canonical(text: str) -> None:
    out = normalize_query_name(text)
    if out is not None:
        assert normalize_query_name(out) == out
        assert out.isascii() and out == out.lower()
        assert not out.endswith(".") and 0 < len(out) <= 253
        assert all(0 < len(label) <= 63 for label in out.split("."))
        assert all(c.isprintable() and not c.isspace() for c in out)


@given(_NAME, st.integers(0, 3), st.booleans())
def test_case_and_trailing_dots_do_not_matter(name: str, dots: int, upper: bool) -> None:
    variant = (name.upper() if upper else name) + "." * dots
    assert normalize_query_name(variant) == name.lower()


@given(_NAME)
def test_parent_domains_walk_nearest_first_to_the_registrable_pair(name: str) -> None:
    norm = normalize_query_name(name)
    assert norm is not None
    parents = parent_domains(norm)
    assert parents[0] == norm
    assert all(norm.endswith(p) for p in parents)
    assert parents[-1].count(".") == 1
    assert [p.count(".") for p in parents] == sorted((p.count(".") for p in parents), reverse=True)


@given(_NAME)
def test_any_subdomain_of_a_listed_domain_matches_its_category(prefix: str) -> None:
    feed = builtin_feed()
    hit = feed.domain(normalize_query_name(prefix + ".guarddutydgaactivity.com") or "")
    assert hit is not None and hit[1].dns_type == "Trojan:Runtime/DGADomainRequest.C!DNS"


def test_idna_and_invalid_inputs() -> None:
    assert normalize_query_name("bücher.example") == "xn--bcher-kva.example"
    assert normalize_query_name(None) is None
    assert normalize_query_name(b"x.example") is None
    assert normalize_query_name("x" * 2000) is None
    assert normalize_query_name("a..b") is None
    assert normalize_query_name("tab\there.example") is None


def test_a_feed_document_is_validated() -> None:
    import pytest

    with pytest.raises(ValueError, match="invalid domain"):
        BuiltinFeed({"categories": [{"category": "c2", "threatListName": "l", "domains": ["a..b"]}]})
    feed = BuiltinFeed({"categories": [{"category": "x", "threatListName": "l", "ips": ["192.0.2.0/28"],
                                        "ipType": "Trojan:Runtime/DropPoint"}],
                        "tor": {"guards": ["2001:db8::1"]}})  # fmt: skip
    cat = feed.ip("192.0.2.15")
    assert cat is not None and cat.ip_type == "Trojan:Runtime/DropPoint"
    assert feed.ip("192.0.2.16") is None and feed.ip("not an ip") is None
    node = feed.tor_node("2001:DB8::1")
    assert node is not None and node.role == "guard"
