"""Test network namespaces: veth links to the host or to another namespace, always removed."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from rtguard.testing.containers import run_container
from rtguard.testing.netns import AUTO_SUBNET_POOL, NetNamespace
from rtguard.testing.privilege import require_root

pytestmark = pytest.mark.privileged


def _links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout


def test_host_link_and_cleanup() -> None:
    require_root()
    with NetNamespace() as ns:
        assert Path(ns.path).exists()
        assert ipaddress.IPv4Address(ns.ip) in AUTO_SUBNET_POOL
        assert ipaddress.IPv4Interface(ns.address).network == ipaddress.IPv4Interface(ns.peer_address).network
        assert ns.outer_if in _links()
        addrs = ns.run(["ip", "-4", "-o", "addr"]).stdout
        assert ns.address in addrs
        assert "127.0.0.1/8" in addrs
        route = ns.run(["ip", "route", "show", "default"]).stdout
        assert f"via {ns.peer_ip}" in route
        # Host → namespace over the veth (the only route the host got is the connected /24).
        server = subprocess.Popen(ns.command(["busybox", "nc", "-l", "-p", "7001"]), stdout=subprocess.PIPE)
        try:
            for _ in range(100):
                try:
                    with socket.create_connection((ns.ip, 7001), timeout=1) as s:
                        s.sendall(b"over-veth\n")
                    break
                except ConnectionRefusedError:
                    threading.Event().wait(0.02)
            out, _ = server.communicate(timeout=10)
            assert out == b"over-veth\n"
        finally:
            server.kill()
            server.wait()
    assert not Path(ns.path).exists()
    assert ns.outer_if not in _links()
    ns.close()  # idempotent


def test_closed_two_namespace_network_with_documentation_address() -> None:
    require_root()
    with NetNamespace() as remote, NetNamespace(peer=remote) as client:
        remote.add_address("203.0.113.7/32")
        host_routes = subprocess.run(["ip", "route"], capture_output=True, text=True, check=True).stdout
        assert "203.0.113" not in host_routes
        assert client.peer_ip not in host_routes.split()
        # The server's stdin stays open: busybox nc half-closes the connection when its
        # stdin ends, and a client that sees that EOF before its own stdin is readable
        # exits 0 without sending anything.
        server = subprocess.Popen(
            remote.command(["busybox", "nc", "-l", "-p", "8080"]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        try:
            with run_container(netns_path=client.path) as c:
                script = "for i in $(seq 50); do echo from-ctr | busybox nc -w 2 203.0.113.7 8080 && exit 0; sleep 0.05; done; exit 1"
                r = c.exec(["sh", "-c", script], timeout=30)
                assert r.returncode == 0, r.stderr
            out, _ = server.communicate(timeout=10)
            assert out == b"from-ctr\n"
        finally:
            server.kill()
            server.wait()


def test_default_container_network_is_loopback_only() -> None:
    require_root()
    with run_container() as c:
        out = c.exec(["ip", "-o", "link"]).stdout
        assert [line.split(":")[1].strip() for line in out.splitlines()] == ["lo"]
        assert os.stat(c.netns).st_ino != os.stat("/proc/self/ns/net").st_ino


def test_explicit_addresses_and_validation() -> None:
    require_root()
    with NetNamespace(address="10.213.250.2/24", peer_address="10.213.250.1/24", default_route=False) as ns:
        assert (ns.ip, ns.peer_ip) == ("10.213.250.2", "10.213.250.1")
        assert ns.run(["ip", "route", "show", "default"]).stdout == ""
    with pytest.raises(ValueError):
        NetNamespace(address="10.213.251.2/24").start()
    with pytest.raises(ValueError):
        NetNamespace(name="bad name")
