"""The field catalogue: Falco meanings of fields, argument forms, and the generated docs page."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtguard.detect.condition import FieldRef
from rtguard.detect.extractors import split_image
from rtguard.detect.fields import (
    EVTTYPE_ALIASES,
    FIELDS,
    FieldError,
    ResolvedField,
    render_fields_markdown,
    resolve_field,
)
from rtguard.model.events import Container, EventKind, FilePayload, NetPayload, UnixPayload
from rtguard.testing.events import ancestor, connect_event, dns_event, event, exec_event, file_event

DOCS = Path(__file__).resolve().parents[2] / "docs" / "fields.md"


def value(name: str, ev: object, arg: str | None = None) -> object:
    resolved = resolve_field(FieldRef(name, arg))
    assert isinstance(resolved, ResolvedField), resolved
    return resolved.extract(ev)  # type: ignore[arg-type]


def test_docs_fields_page_is_generated_from_the_catalogue() -> None:
    expected = render_fields_markdown()
    assert DOCS.read_text("utf-8") == expected, "regenerate docs/fields.md (command at the top of the page)"
    for name in FIELDS:
        assert f"`{name}" in expected


def test_every_field_is_documented_and_has_an_extractor() -> None:
    for spec in FIELDS.values():
        assert spec.doc.strip(), spec.name
        assert spec.plain is not None or spec.with_arg is not None, spec.name


def test_proc_cmdline_is_name_then_args_without_argv0() -> None:
    ev = exec_event("curl", argv=["/usr/bin/curl", "-s", "http://x"])
    assert value("proc.cmdline", ev) == "curl -s http://x"
    assert value("proc.args", ev) == "-s http://x"
    assert value("proc.exe", ev) == "/usr/bin/curl"
    assert value("proc.cmdline", exec_event("sh", argv=[])) == "sh"


def test_proc_argv_with_and_without_index() -> None:
    ev = exec_event("aws", argv=["aws", "sts", "get-caller-identity"])
    assert value("proc.argv", ev) == ("aws", "sts", "get-caller-identity")
    assert value("proc.argv", ev, "1") == "sts"
    assert value("proc.argv", ev, "9") is None


def test_proc_stdio_types() -> None:
    ev = exec_event("sh", stdio_types=("pipe", "inet", "tty"))
    assert (value("proc.stdin_type", ev), value("proc.stdout_type", ev), value("proc.stderr_type", ev)) == (
        "pipe",
        "inet",
        "tty",
    )
    assert value("proc.stdin_type", exec_event("sh")) is None  # not known: no value


def test_proc_names_collects_every_name_the_process_goes_by() -> None:
    plain = exec_event("curl", argv=["curl", "-s"])
    assert value("proc.names", plain) == ("curl",)
    applet = exec_event(
        "busybox", argv=["wget", "-q", "x"], exe_path="/bin/busybox", filename="/usr/bin/wget"
    )
    assert value("proc.names", applet) == ("busybox", "wget")
    script = exec_event(
        "bash", argv=["/bin/bash", "./linpeas.sh"], exe_path="/usr/bin/bash", filename="./linpeas.sh"
    )
    assert value("proc.names", script) == ("bash", "linpeas.sh")
    assert value("evt.arg.filename", script) == "./linpeas.sh"
    symlink = exec_event("dash", argv=["sh", "-c", "id"], exe_path="/usr/bin/dash")
    assert value("proc.names", symlink) == ("dash", "sh")
    assert value("proc.names", connect_event(name="python3.11", argv=["python3", "app.py"])) == (
        "python3.11",
        "python3",
    )


def test_ancestors_by_index_and_all() -> None:
    ev = exec_event("sh", lineage=[ancestor("python3", pid=20), ancestor("gunicorn", pid=10)], pid=30)
    assert value("proc.pname", ev) == "python3"
    assert value("proc.aname", ev, "0") == "sh"
    assert value("proc.aname", ev, "1") == "python3"
    assert value("proc.aname", ev, "2") == "gunicorn"
    assert value("proc.aname", ev, "3") is None
    assert value("proc.aname", ev) == ("python3", "gunicorn")
    assert value("proc.apid", ev, "2") == 10
    assert value("proc.apid", ev, "0") == 30
    assert value("proc.pexepath", ev) == "/usr/bin/python3"


def test_no_parent_means_missing_not_empty() -> None:
    ev = exec_event("init", parent=None)
    assert value("proc.pname", ev) is None
    assert value("proc.aname", ev) == ()


def test_container_fields_and_host_process() -> None:
    ev = exec_event("sh")
    assert value("container.id", ev) == ev.container.id  # type: ignore[union-attr]
    assert value("container.image.repository", ev) == "public.ecr.aws/docker/library/python"
    assert value("container.image.tag", ev) == "3.12"
    assert value("ecs.cluster", ev) == "test-cluster"
    assert value("ecs.task.family", ev) == "test-task"
    host = exec_event("sh", container_id=None)
    assert value("container.id", host) == "host"
    assert value("container.name", host) == "host"
    assert value("container.image", host) is None
    assert value("ecs.task.arn", host) is None


@pytest.mark.parametrize(
    ("image", "parts"),
    [
        ("nginx", ("nginx", "", "")),
        ("nginx:1.25", ("nginx", "1.25", "")),
        ("registry:5000/team/app", ("registry:5000/team/app", "", "")),
        ("registry:5000/team/app:v2@sha256:ab", ("registry:5000/team/app", "v2", "sha256:ab")),
    ],
)
def test_image_split_keeps_registry_ports(image: str, parts: tuple[str, str, str]) -> None:
    assert split_image(image) == parts


def test_container_without_ecs_task() -> None:
    ev = exec_event("sh", container=Container(id="a" * 64))
    assert value("ecs.cluster", ev) is None
    assert value("container.image", ev) is None


def test_connect_and_accept_map_client_and_server() -> None:
    out = connect_event("198.51.100.7", 443, local_ip="10.0.0.5", local_port=40000)
    assert (value("fd.cip", out), value("fd.cport", out)) == ("10.0.0.5", 40000)
    assert (value("fd.sip", out), value("fd.sport", out)) == ("198.51.100.7", 443)
    assert value("fd.name", out) == "10.0.0.5:40000->198.51.100.7:443"
    assert (value("fd.typechar", out), value("fd.type", out), value("fd.l4proto", out)) == (
        "4",
        "ipv4",
        "tcp",
    )
    payload = NetPayload(
        family=10, protocol=17, local_ip="::1", local_port=53, remote_ip="::2", remote_port=999
    )
    inbound = event(EventKind.NET_ACCEPT, payload)
    assert (value("fd.sip", inbound), value("fd.sport", inbound)) == ("::1", 53)
    assert (value("fd.cip", inbound), value("fd.rip", inbound)) == ("::2", "::2")
    assert (value("fd.typechar", inbound), value("fd.l4proto", inbound)) == ("6", "udp")
    listen = event(EventKind.NET_LISTEN, NetPayload(family=2, protocol=6, local_ip="0.0.0.0", local_port=80))
    assert value("fd.cip", listen) is None
    assert value("fd.name", listen) == "0.0.0.0:80"


def test_file_and_unix_fields() -> None:
    ev = file_event("/etc/cron.d/job", kind=EventKind.FILE_RENAME, target_path="/etc/cron.d/evil")
    assert (value("fd.name", ev), value("fd.directory", ev), value("fd.filename", ev)) == (
        "/etc/cron.d/job",
        "/etc/cron.d",
        "job",
    )
    assert value("fs.path.target", ev) == "/etc/cron.d/evil"
    assert value("fd.typechar", ev) == "f"
    sock = event(EventKind.UNIX_CONNECT, UnixPayload(path="/var/run/docker.sock"))
    assert (value("fd.name", sock), value("fd.typechar", sock)) == ("/var/run/docker.sock", "u")
    assert value("fs.path.name", sock) is None


def test_payload_fields_are_missing_on_other_kinds() -> None:
    ev = exec_event("sh")
    for name in ("fd.name", "fd.sip", "dns.name", "evt.arg.flags", "mount.target", "target.name"):
        assert value(name, ev) is None, name
    assert value("evt.arg.flags", file_event("/x")) == FilePayload(path="/x").flags


def test_dns_fields() -> None:
    ev = dns_event("example.com", answers=["192.0.2.1", "192.0.2.2"])
    assert value("dns.name", ev) == "example.com"
    assert value("dns.answers", ev) == ("192.0.2.1", "192.0.2.2")


def test_environment_and_flags() -> None:
    ev = exec_event("sh", ld_preload="/tmp/x.so", exe_written_after_start=True, exe_sha256="ab" * 32)
    assert value("proc.env", ev, "LD_PRELOAD") == "/tmp/x.so"
    assert value("proc.ld_preload", ev) == "/tmp/x.so"
    assert value("proc.is_exe_upper_layer", ev) is True
    assert value("proc.is_exe_from_memfd", ev) is False
    assert value("proc.sha256", ev) == "ab" * 32
    assert value("proc.sha256", exec_event("sh")) is None
    assert value("proc.env", exec_event("sh"), "LD_PRELOAD") is None


@pytest.mark.parametrize(
    ("name", "arg", "fragment", "unknown"),
    [
        ("proc.nosuch", None, "unknown field", True),
        ("proc.aname", "x", "must be a number", False),
        ("proc.env", None, "needs an argument", False),
        ("proc.env", "HOME", "only LD_LIBRARY_PATH, LD_PRELOAD", False),
        ("proc.name", "1", "takes no argument", False),
    ],
)
def test_resolve_errors(name: str, arg: str | None, fragment: str, unknown: bool) -> None:
    resolved = resolve_field(FieldRef(name, arg))
    assert isinstance(resolved, FieldError)
    assert fragment in resolved.message
    assert resolved.unknown is unknown


def test_evttype_aliases_cover_falco_syscalls() -> None:
    assert EVTTYPE_ALIASES["execve"] == {EventKind.PROCESS_EXEC}
    assert EVTTYPE_ALIASES["openat"] == {EventKind.FILE_WRITE}
    assert EVTTYPE_ALIASES["connect"] == {EventKind.NET_CONNECT, EventKind.UNIX_CONNECT}
    for kind in EventKind:
        assert EVTTYPE_ALIASES[kind.value] == {kind}
