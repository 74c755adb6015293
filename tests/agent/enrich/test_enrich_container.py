"""Container identity from cgroup paths: every known layout, and hostile look-alikes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtguard.agent.enrich.container import RUNTIMES, ContainerRef, parse_cgroup_path

ID = "3f4e9a1b" * 8  # 64 hex
ID2 = "0123456789abcdef" * 4
TASK = "8f03e41243824aea923aca126495f665"
OLD_TASK = "090eff9b-1ce3-4db6-848a-a8d14064fd24"
POD = "5b8ede78-074a-4ae8-7c79-f889e6238b00"
POD_US = POD.replace("-", "_")

# (path, runtime, container id, ecs task id, pod uid)
RECOGNISED: list[tuple[str, str, str, str, str]] = [
    (f"/docker/{ID}", "docker", ID, "", ""),
    (f"/system.slice/docker-{ID}.scope", "docker", ID, "", ""),
    (f"/ecs/{TASK}/{ID}", "ecs", ID, TASK, ""),
    (f"/ecs/{OLD_TASK}/{ID}", "ecs", ID, OLD_TASK, ""),
    (f"/ecs/{TASK}/{TASK}-2495160603", "ecs", f"{TASK}-2495160603", TASK, ""),  # Fargate
    (f"/ecstasks.slice/ecstasks-{TASK}.slice/docker-{ID}.scope", "docker", ID, TASK, ""),
    (
        f"/ecstasks.slice/ecstasks-{OLD_TASK.replace('-', '_')}.slice/docker-{ID}.scope",
        "docker",
        ID,
        OLD_TASK,
        "",
    ),
    (f"/kubepods/burstable/pod{POD}/{ID}", "containerd", ID, "", POD),
    (f"/kubepods/pod{POD}/{ID}", "containerd", ID, "", POD),
    (f"/kubepods/besteffort/pod{POD}/{ID}", "containerd", ID, "", POD),
    (
        f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_US}.slice/cri-containerd-{ID}.scope",
        "containerd",
        ID,
        "",
        POD,
    ),
    (f"/kubepods.slice/kubepods-pod{POD_US}.slice/cri-containerd-{ID}.scope", "containerd", ID, "", POD),
    (
        f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{POD_US}.slice/crio-{ID}.scope",
        "cri-o",
        ID,
        "",
        POD,
    ),
    (f"/kubepods.slice/kubepods-pod{POD_US}.slice/docker-{ID}.scope", "docker", ID, "", POD),
    (f"/system.slice/crio-{ID}.scope", "cri-o", ID, "", ""),
    (f"/system.slice/cri-containerd-{ID}.scope", "containerd", ID, "", ""),
    (f"/system.slice/nerdctl-{ID}.scope", "containerd", ID, "", ""),
    (f"/libpod_parent/libpod-{ID}", "podman", ID, "", ""),
    (f"/machine.slice/libpod-{ID}.scope", "podman", ID, "", ""),
    # Rootless podman: a real container under user.slice, named by its strict scope pattern.
    (f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope", "podman", ID, "", ""),
    # Sub-cgroups of a container (systemd or a supervisor inside it) still resolve to it.
    (f"/docker/{ID}/init.scope", "docker", ID, "", ""),
    (f"/ecs/{TASK}/{ID}/sub/leaf", "ecs", ID, TASK, ""),
    (f"/system.slice/docker-{ID}.scope/init", "docker", ID, "", ""),
    # Docker in Docker: the innermost container wins.
    (f"/docker/{ID}/docker/{ID2}", "docker", ID2, "", ""),
]

NOT_CONTAINERS: list[str] = [
    "",
    "/",
    "//",
    "relative/docker/" + ID,
    "/process_api/243898753958946a3aaf71781055aafc",  # our machines' supervisor (32 hex)
    f"/process_api/{ID}",  # even with 64 hex: unknown parent
    "/user.slice",
    "/user.slice/user-0.slice/session-3.scope",
    "/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service",
    "/system.slice/sshd.service",
    "/system.slice/docker.service",
    "/init.scope",
    f"/{ID}",  # a bare 64-hex cgroup at the root: nobody's layout
    f"/foo/{ID}",
    f"/docker/{ID[:-1]}",  # 63 hex
    f"/docker/{ID}0",  # 65 hex
    f"/docker/{ID.upper()}",
    f"/docker/{ID[:-1]}g",
    f"/docker/{ID}\n",
    f"/docker/{ID}\n/docker/{ID2}x",
    f"/docker/ {ID}",
    f"/ecs/{TASK}",  # the task's own cgroup, not a container
    f"/ecs/{TASK}/notacontainer",
    f"/ecs/nottask/{ID}",
    f"/ecs/{TASK}/{TASK}-",  # Fargate id without digits
    f"/ecs/{TASK}/{TASK}-12345678901",  # too many digits
    f"/x/ecs/{TASK}/{ID}",  # /ecs/ must be the top level
    f"/system.slice/docker-{ID}.scope.bak",
    f"/system.slice/docker-{ID[:32]}.scope",
    f"/system.slice/crio-conmon-{ID}.scope",
    f"/machine.slice/libpod-conmon-{ID}.scope",
    f"/libpod_parent/conmon-{ID}",
    f"/kubepods/burstable/pod{POD}",  # the pod, not a container
    f"/kubepods/burstable/notapod/{ID}",
    f"/docker/{ID}//",
    "/docker/../docker/" + ID,
    "/" + "a/" * 100 + ID,
    "/docker/" + "a" * 5000,
]


@pytest.mark.parametrize(("path", "runtime", "cid", "task", "pod"), RECOGNISED)
def test_recognised(path: str, runtime: str, cid: str, task: str, pod: str) -> None:
    ref = parse_cgroup_path(path)
    assert ref == ContainerRef(runtime=runtime, container_id=cid, ecs_task_id=task, pod_uid=pod, cgroup=path)
    assert ref.runtime in RUNTIMES


@pytest.mark.parametrize("path", NOT_CONTAINERS)
def test_not_a_container(path: str) -> None:
    assert parse_cgroup_path(path) is None


def test_non_string_input() -> None:
    assert parse_cgroup_path(None) is None  # type: ignore[arg-type]
    assert parse_cgroup_path(b"/docker/" + ID.encode()) is None  # type: ignore[arg-type]


@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(path: str) -> None:
    ref = parse_cgroup_path(path)
    if ref is not None:
        assert ref.container_id in path
        assert ref.runtime in RUNTIMES


@given(st.text(alphabet="0123456789abcdef", min_size=1, max_size=80))
def test_hex_under_unknown_parent_is_never_a_container(leaf: str) -> None:
    for parent in ("/process_api", "/user.slice", "/system.slice", "/lxc", ""):
        assert parse_cgroup_path(f"{parent}/{leaf}") is None
