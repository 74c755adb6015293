"""Scenario tests for container escapes: DockerSocketAccessed, RuncContainerEscape,
CGroupsReleaseAgentModified and ContainerMountsHostDirectory, positive and negative."""

from __future__ import annotations

from rtguard.model.events import EventKind, MountPayload, UnixPayload
from rtguard.testing.behaviour import LOADED, found
from rtguard.testing.events import event, exec_event, file_event

DOCKER = "PrivilegeEscalation:Runtime/DockerSocketAccessed"
RUNC = "PrivilegeEscalation:Runtime/RuncContainerEscape"
CGROUP = "PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified"
MOUNT = "PrivilegeEscalation:Runtime/ContainerMountsHostDirectory"


def test_rules_load_without_errors() -> None:
    assert LOADED.ok, LOADED.errors


def test_docker_socket_connect_from_container_is_reported_with_socket_path() -> None:
    e = event(EventKind.UNIX_CONNECT, UnixPayload(path="/var/run/docker.sock"), name="curl")
    (d,) = found(e, DOCKER)
    assert d.context == {"socketPath": "/var/run/docker.sock"}
    assert d.rule_id == "RTG-0101"


def test_docker_socket_on_host_and_other_sockets_are_not() -> None:
    assert not found(
        event(EventKind.UNIX_CONNECT, UnixPayload(path="/run/docker.sock"), container_id=None), DOCKER
    )
    assert not found(event(EventKind.UNIX_CONNECT, UnixPayload(path="/run/dbus/system_bus_socket")), DOCKER)


def test_runc_binary_overwritten_from_container() -> None:
    (d,) = found(file_event("/usr/bin/runc", name="python3"), RUNC)
    assert d.context == {"runcBinaryPath": "/usr/bin/runc"}
    (d,) = found(file_event("/proc/4242/exe", name="exploit"), RUNC)
    assert d.context == {"runcBinaryPath": "/proc/4242/exe"}


def test_runc_binary_on_host_or_other_files_are_not() -> None:
    assert not found(file_event("/usr/bin/runc", name="dpkg", container_id=None), RUNC)
    assert not found(file_event("/usr/bin/runcx"), RUNC)


def test_working_directory_in_leaked_fd_is_reported() -> None:
    (d,) = found(exec_event("sh", cwd="/proc/self/fd/7/../../"), RUNC)
    assert d.rule_id == "RTG-0103" and d.context == {}
    assert not found(exec_event("sh", cwd="/proc/self"), RUNC)


def test_release_agent_write_from_container() -> None:
    (d,) = found(file_event("/sys/fs/cgroup/rdma/x/release_agent", name="sh"), CGROUP)
    assert d.context == {"releaseAgentPath": "/sys/fs/cgroup/rdma/x/release_agent"}
    assert not found(file_event("/sys/fs/cgroup/rdma/x/notify_on_release"), CGROUP)
    assert not found(file_event("/sys/fs/cgroup/x/release_agent", container_id=None), CGROUP)


def test_host_device_mount_from_container_even_failing() -> None:
    e = event(
        EventKind.MOUNT,
        MountPayload(source="/dev/nvme0n1p1", target="/mnt", fstype="ext4", flags=0, result=-1),
        name="mount",
    )
    (d,) = found(e, MOUNT)
    assert d.context == {
        "mountSource": "/dev/nvme0n1p1",
        "mountTarget": "/mnt",
        "fileSystemType": "ext4",
        "flags": "0",
    }


def test_ordinary_mounts_are_not_host_mounts() -> None:
    for payload in (
        MountPayload(source="tmpfs", target="/tmp/x", fstype="tmpfs"),
        MountPayload(source="proc", target="/proc", fstype="proc"),
        MountPayload(source="/dev/shm", target="/x", fstype=""),
    ):
        assert not found(event(EventKind.MOUNT, payload, name="mount"), MOUNT)
    host = MountPayload(source="/dev/sda1", target="/mnt", fstype="ext4")
    assert not found(event(EventKind.MOUNT, host, name="mount", container_id=None), MOUNT)
