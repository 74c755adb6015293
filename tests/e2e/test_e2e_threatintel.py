"""End to end: threat intelligence on real DNS queries and connections from a runc container.

One server + agent stack (real eBPF sensor). The container lives in a network namespace
(``client``) whose only link goes to a second namespace (``remote``) that we also create: it runs
dnsmasq answering GuardDuty's test domains (reference §9), a name resolving to 169.254.169.254
(data only: nothing connects to it) and a user-listed domain, and owns documentation-range
addresses (listed C&C, crypto, black-hole, drop-point and Tor addresses) with listeners.
The container's resolv.conf names the resolver in ``remote``; no DNS or traffic reaches the
machine's resolver or any address outside the two namespaces (``remote`` has no default route).
A user ThreatIntelSet (TXT, one domain) and an IPSet (one trusted C&C address) are created with
boto3 first; every expected finding is read back with boto3 with its action and evidence.

Privileged: on CI a missing capability fails the test (``rtguard.testing.privilege``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from rtguard.testing.containers import RuncContainer
from rtguard.testing.netns import NetNamespace
from rtguard.testing.privilege import require_root
from rtguard.testing.stack import AgentProcess, ServerProcess

pytestmark = pytest.mark.e2e

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
SEVERITY = {
    "Trojan:Runtime/BlackholeTraffic!DNS": 5.0,
    "Trojan:Runtime/DropPoint!DNS": 5.0,
    "Impact:Runtime/AbusedDomainRequest.Reputation": 5.0,
    "Impact:Runtime/SuspiciousDomainRequest.Reputation": 2.0,
    "Trojan:Runtime/BlackholeTraffic": 5.0,
    "Trojan:Runtime/DropPoint": 5.0,
}
CONNECT = {
    "198.51.100.10": "Backdoor:Runtime/C&CActivity.B",
    "198.51.100.20": "CryptoCurrency:Runtime/BitcoinTool.B",
    "198.51.100.30": "Trojan:Runtime/BlackholeTraffic",
    "198.51.100.40": "Trojan:Runtime/DropPoint",
    "203.0.113.50": "UnauthorizedAccess:Runtime/TorClient",
}
TRUSTED = "198.51.100.11"  # a built-in C&C test address, made trusted by the IPSet
TOR_RELAY_IP = "203.0.113.52"
REBIND_NAME = "rebind.rtguard.test"
USER_DOMAIN = "userbad.rtguard.test"
PORT = 8443
RELAY_PORT = 9001

_LISTENER = """
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(64)
while True:
    c, _ = s.accept(); c.close()
"""


def _client_script(names: list[str], ips: list[str]) -> str:
    return f"""
import socket
for name in {names!r}:
    try:
        socket.getaddrinfo(name, 80, socket.AF_INET, socket.SOCK_STREAM)
    except OSError as exc:
        print("resolve", name, exc)
for ip in {ips!r}:
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((ip, {PORT}))
    except OSError as exc:
        print("connect", ip, exc)
    s.close()
"""


@pytest.fixture
def nets() -> Iterator[tuple[NetNamespace, NetNamespace]]:
    require_root()
    assert shutil.which("dnsmasq"), "dnsmasq (Debian dnsmasq-base) is needed: make sysdeps"
    with NetNamespace(default_route=False) as remote, NetNamespace(peer=remote) as client:
        for ip in [*CONNECT, TRUSTED, TOR_RELAY_IP]:
            remote.add_address(f"{ip}/32")
        yield remote, client


def _findings(gd: Any, detector: str, types: set[str], timeout: float = 45) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        ids = gd.list_findings(DetectorId=detector, MaxResults=50)["FindingIds"]
        found = gd.get_findings(DetectorId=detector, FindingIds=ids)["Findings"] if ids else []
        if types <= {f["Type"] for f in found}:
            return found
        time.sleep(0.5)
    return found


def test_threat_intel_findings_from_real_dns_and_connections(
    nets: tuple[NetNamespace, NetNamespace], tmp_path: Path
) -> None:
    remote, client = nets
    resolver = client.peer_ip
    answers = [f"--address=/{d}/{resolver}" for d in (*SECTION_9, USER_DOMAIN)]
    answers.append(f"--address=/{REBIND_NAME}/169.254.169.254")
    procs: list[subprocess.Popen[bytes]] = []
    server = ServerProcess(tmp_path / "server").start()
    agent: AgentProcess | None = None
    try:
        cred = server.credentials()
        agent = AgentProcess(server.url, cred["agent_token"], tmp_path / "agent").start()
        gd = boto3.client(
            "guardduty",
            endpoint_url=server.url,
            region_name=cred["region"],
            aws_access_key_id=cred["aws_access_key_id"],
            aws_secret_access_key=cred["aws_secret_access_key"],
        )
        det = cred["detector_id"]
        (tmp_path / "threats.txt").write_text(f"# user threat list\n{USER_DOMAIN}\n")
        (tmp_path / "trusted.txt").write_text(f"{TRUSTED}\n")
        gd.create_threat_intel_set(DetectorId=det, Name="acme-threats", Format="TXT",
                                   Location=str(tmp_path / "threats.txt"), Activate=True)  # fmt: skip
        gd.create_ip_set(DetectorId=det, Name="acme-trusted", Format="TXT",
                         Location=str(tmp_path / "trusted.txt"), Activate=True)  # fmt: skip
        time.sleep(2.5)  # the worker's view of the lists is at most 2 s old

        dnsmasq = ["dnsmasq", "-k", "-C", "/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
                   f"--listen-address={resolver}", "--user=root", f"--pid-file={tmp_path / 'dnsmasq.pid'}",
                   *answers]  # fmt: skip
        for args in (dnsmasq, [sys.executable, "-c", _LISTENER, str(PORT)]):
            with (tmp_path / "remote.log").open("ab") as log:
                procs.append(
                    subprocess.Popen(remote.command(args), stdout=log, stderr=log, stdin=subprocess.DEVNULL)
                )
        time.sleep(0.5)
        resolv = f"nameserver {resolver}\noptions attempts:2 timeout:2\n"
        with RuncContainer(netns_path=client.path, files={"/etc/resolv.conf": resolv}) as box:
            box.spawn(["python3", "-c", _LISTENER, str(RELAY_PORT)])
            names = [*SECTION_9, REBIND_NAME, USER_DOMAIN]
            out = box.exec(["python3", "-c", _client_script(names, [*CONNECT, TRUSTED])], timeout=120)
            assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr
            got = box.exec(["getent", "hosts", "guarddutydgaactivity.com"], timeout=30)
            assert got.stdout.split()[:1] == [resolver], got
            time.sleep(0.3)
            relay = remote.run(
                ["python3", "-c", f"import socket; s = socket.socket(); s.bind(({TOR_RELAY_IP!r}, 0)); "
                 f"s.settimeout(3); s.connect(({client.ip!r}, {RELAY_PORT})); s.close()"]
            )  # fmt: skip
            assert relay.returncode == 0, relay.stderr
            expected = {
                *SECTION_9.values(),
                *CONNECT.values(),
                "UnauthorizedAccess:Runtime/MetadataDNSRebind",
                "UnauthorizedAccess:Runtime/TorRelay",
            }
            found = _findings(gd, det, expected)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        if agent is not None:
            agent.stop()
        server.stop()

    by_type: dict[str, list[dict[str, Any]]] = {}
    for f in found:
        by_type.setdefault(f["Type"], []).append(f)
    assert expected <= set(by_type), sorted(expected - set(by_type))
    assert len(expected) == 18

    def one(ftype: str, artifact: str) -> dict[str, Any]:
        for f in by_type[ftype]:
            action = f["Service"]["Action"]
            dns = action.get("DnsRequestAction", {}).get("Domain", "")
            ip = action.get("NetworkConnectionAction", {}).get("RemoteIpDetails", {}).get("IpAddressV4", "")
            if artifact in (dns, ip):
                return f
        raise AssertionError(f"no {ftype} finding for {artifact}: {by_type[ftype]}")

    for domain, ftype in SECTION_9.items():
        f = one(ftype, domain)
        assert f["Severity"] == SEVERITY.get(ftype, 8.0), ftype
        assert (
            f["Resource"]["ContainerDetails"]["Id"] == box.container_id
            or "EcsClusterDetails" in f["Resource"]
        )
        action = f["Service"]["Action"]
        assert action["ActionType"] == "DNS_REQUEST"
        assert action["DnsRequestAction"]["Blocked"] is False
        assert action["DnsRequestAction"]["DomainWithSuffix"] == ".".join(domain.split(".")[-2:])
        intel = f["Service"]["Evidence"]["ThreatIntelligenceDetails"]
        assert intel[0]["ThreatListName"].startswith("rtguard-builtin") and intel[0]["ThreatNames"]
        assert f["Service"]["RuntimeDetails"]["Process"]["Name"].startswith("python")

    user = one("Backdoor:Runtime/C&CActivity.B!DNS", USER_DOMAIN)
    assert user["Service"]["Evidence"]["ThreatIntelligenceDetails"] == [
        {"ThreatListName": "acme-threats", "ThreatNames": [USER_DOMAIN]}
    ]
    rebind = one("UnauthorizedAccess:Runtime/MetadataDNSRebind", REBIND_NAME)
    assert rebind["Severity"] == 8.0 and "Evidence" not in rebind["Service"]

    for ip, ftype in CONNECT.items():
        f = one(ftype, ip)
        assert f["Severity"] == SEVERITY.get(ftype, 8.0), ftype
        nca = f["Service"]["Action"]["NetworkConnectionAction"]
        assert (nca["ConnectionDirection"], nca["Protocol"]) == ("OUTBOUND", "TCP")
        assert nca["RemotePortDetails"]["Port"] == PORT
        assert f["Service"]["Evidence"]["ThreatIntelligenceDetails"][0]["ThreatListName"].startswith(
            "rtguard-builtin"
        )

    relay_f = one("UnauthorizedAccess:Runtime/TorRelay", TOR_RELAY_IP)
    nca = relay_f["Service"]["Action"]["NetworkConnectionAction"]
    assert nca["ConnectionDirection"] == "INBOUND" and nca["LocalPortDetails"]["Port"] == RELAY_PORT

    remote_ips = {
        f["Service"]
        .get("Action", {})
        .get("NetworkConnectionAction", {})
        .get("RemoteIpDetails", {})
        .get("IpAddressV4")
        for f in found
    }
    assert TRUSTED not in remote_ips, "a trusted IP never produces a finding"
    assert len(by_type["Backdoor:Runtime/C&CActivity.B"]) == 1
