"""Threat-intelligence detector: DNS queries and connections against the built-in feed and
the detector's own lists (GuardDuty reference §1a, types 1–18).

- ``dns_query``: the queried name is normalised (``rtguard.intel.feed.normalize_query_name``)
  and matched with its parent domains, nearest first; a built-in hit gives the category's
  ``…!DNS`` or ``….Reputation`` type, a user ThreatIntelSet hit gives
  ``Backdoor:Runtime/C&CActivity.B!DNS`` (GuardDuty has no runtime ``.Custom`` type). An answer
  of ``169.254.169.254`` (or ``fd00:ec2::254``) gives ``UnauthorizedAccess:Runtime/MetadataDNSRebind``.
- ``net_connect``: a remote address in the built-in feed gives the category's IP type; a user
  ThreatIntelSet hit gives ``Backdoor:Runtime/C&CActivity.B``; a Tor guard or authority node
  gives ``UnauthorizedAccess:Runtime/TorClient``.
- Tor relay pattern (kept simple, documented): a process that *accepts* a connection from a
  listed Tor node is acting as a relay (``UnauthorizedAccess:Runtime/TorRelay``); the process is
  remembered in the partition's state, and its later connections to Tor nodes are reported as
  ``TorRelay`` too, not ``TorClient``.
- Trusted addresses (the detector's IPSets) always win: a connection to or from a trusted
  address, or a DNS query whose answers include a trusted address, produces nothing.

User lists arrive through ``user_intel``, a callable returning the current ``IntelLookup`` (or
None). The shipped instance reads ``INTEL_SCOPE``, a context variable the detection worker sets
per event to the account's ``IntelView``. This module must not fetch lists, do I/O or build
finding documents; it only returns ``Detection`` objects.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Final, Protocol

from rtguard.intel.feed import BuiltinFeed, builtin_feed, normalize_query_name
from rtguard.model.events import DnsPayload, Event, EventKind, NetPayload
from rtguard.model.findings import Detection, ThreatIntelDetail

__all__ = [
    "INTEL_SCOPE",
    "METADATA_ADDRESSES",
    "IntelLookup",
    "ThreatIntelDetector",
    "intel_scope",
]

RULE_ID: Final = "RTG-0900"
METADATA_ADDRESSES: Final = frozenset({"169.254.169.254", "fd00:ec2::254"})
CUSTOM_DNS_TYPE: Final = "Backdoor:Runtime/C&CActivity.B!DNS"
CUSTOM_IP_TYPE: Final = "Backdoor:Runtime/C&CActivity.B"
TOR_CLIENT: Final = "UnauthorizedAccess:Runtime/TorClient"
TOR_RELAY: Final = "UnauthorizedAccess:Runtime/TorRelay"
REBIND: Final = "UnauthorizedAccess:Runtime/MetadataDNSRebind"
_MAX_RELAYS: Final = 256


class _Match(Protocol):
    @property
    def list_name(self) -> str: ...

    @property
    def entry(self) -> str: ...


class IntelLookup(Protocol):
    """What the detector asks of user lists (``rtguard.intel.IntelView`` satisfies it)."""

    def is_trusted(self, ip: str) -> bool: ...

    def threat_ip(self, ip: str) -> _Match | None: ...

    def threat_domain(self, domain: str) -> _Match | None: ...


INTEL_SCOPE: ContextVar[IntelLookup | None] = ContextVar("rtguard_intel_scope", default=None)


@contextlib.contextmanager
def intel_scope(view: IntelLookup | None) -> Iterator[None]:
    """Make ``view`` the user intel of the shipped detector for the enclosed evaluation."""
    token = INTEL_SCOPE.set(view)
    try:
        yield
    finally:
        INTEL_SCOPE.reset(token)


class _State:
    """Per partition: processes seen acting as Tor relays (exec ids, bounded)."""

    __slots__ = ("relays",)

    def __init__(self) -> None:
        self.relays: OrderedDict[str, None] = OrderedDict()

    def remember(self, exec_id: str) -> None:
        self.relays[exec_id] = None
        self.relays.move_to_end(exec_id)
        while len(self.relays) > _MAX_RELAYS:
            self.relays.popitem(last=False)


class ThreatIntelDetector:
    """Matches DNS queries and connections against threat intelligence (see module doc).

    Args:
        feed: the built-in feed (default: the shipped one, read on first use).
        user_intel: returns the user lists in force for the current event, or None.
    """

    def __init__(
        self,
        feed: BuiltinFeed | None = None,
        user_intel: Callable[[], IntelLookup | None] = INTEL_SCOPE.get,
    ) -> None:
        self._feed = feed
        self._user_intel = user_intel

    @property
    def rule_id(self) -> str:
        return RULE_ID

    @property
    def kinds(self) -> frozenset[EventKind]:
        return frozenset({EventKind.DNS_QUERY, EventKind.NET_CONNECT, EventKind.NET_ACCEPT})

    @property
    def feed(self) -> BuiltinFeed:
        if self._feed is None:
            self._feed = builtin_feed()
        return self._feed

    def new_state(self) -> _State:
        return _State()

    def on_event(self, event: Event, state: _State) -> list[Detection]:
        payload = event.payload
        user = self._user_intel()
        if isinstance(payload, DnsPayload) and event.kind is EventKind.DNS_QUERY:
            return self._dns(event, payload, user)
        if isinstance(payload, NetPayload) and payload.remote_ip:
            if user is not None and user.is_trusted(payload.remote_ip):
                return []
            if event.kind is EventKind.NET_ACCEPT:
                return self._accept(event, payload, state)
            if event.kind is EventKind.NET_CONNECT:
                return self._connect(event, payload, user, state)
        return []

    def _dns(self, event: Event, dns: DnsPayload, user: IntelLookup | None) -> list[Detection]:
        if user is not None and any(user.is_trusted(a) for a in dns.answers):
            return []
        name = normalize_query_name(dns.name)
        if name is None:
            return []
        out: list[Detection] = []
        hit = self.feed.domain(name)
        if hit is not None and hit[1].dns_type:
            cat = hit[1]
            out.append(
                _detection(
                    event, cat.dns_type, name, ThreatIntelDetail(cat.threat_list_name, cat.threat_names)
                )
            )
        elif user is not None:
            match = user.threat_domain(name)
            if match is not None:
                detail = ThreatIntelDetail(match.list_name, (match.entry,))
                out.append(_detection(event, CUSTOM_DNS_TYPE, name, detail))
        if any(a.strip().lower() in METADATA_ADDRESSES for a in dns.answers):
            out.append(_detection(event, REBIND, name, None))
        return out

    def _connect(
        self, event: Event, net: NetPayload, user: IntelLookup | None, state: _State
    ) -> list[Detection]:
        ip = net.remote_ip
        node = self.feed.tor_node(ip)
        if node is not None:
            ftype = TOR_RELAY if event.process.exec_id in state.relays else TOR_CLIENT
            if ftype == TOR_CLIENT and node.role == "relay":
                return []  # a client reaches the network through guards and authorities
            detail = ThreatIntelDetail(node.threat_list_name, (f"Tor {node.role} node",))
            return [_detection(event, ftype, ip, detail)]
        cat = self.feed.ip(ip)
        if cat is not None and cat.ip_type:
            detail = ThreatIntelDetail(cat.threat_list_name, cat.threat_names)
            return [_detection(event, cat.ip_type, ip, detail)]
        if user is not None:
            match = user.threat_ip(ip)
            if match is not None:
                return [
                    _detection(event, CUSTOM_IP_TYPE, ip, ThreatIntelDetail(match.list_name, (match.entry,)))
                ]
        return []

    def _accept(self, event: Event, net: NetPayload, state: _State) -> list[Detection]:
        node = self.feed.tor_node(net.remote_ip)
        if node is None:
            return []
        state.remember(event.process.exec_id)
        detail = ThreatIntelDetail(node.threat_list_name, (f"Tor {node.role} node",))
        return [_detection(event, TOR_RELAY, net.remote_ip, detail)]


def _detection(event: Event, ftype: str, artifact: str, detail: ThreatIntelDetail | None) -> Detection:
    return Detection(
        finding_type=ftype,
        event=event,
        rule_id=RULE_ID,
        artifact=artifact,
        evidence=(detail,) if detail is not None else (),
    )
