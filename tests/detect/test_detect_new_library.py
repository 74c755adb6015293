"""Scenario tests for the NewLibraryLoaded detector (RTG-0134), positive and negative, with
synthetic ``library_load`` and ``file_*`` events."""

from __future__ import annotations

from typing import Any

from rtguard.detect.detectors import BUILTIN
from rtguard.detect.detectors.new_library import NewLibraryDetector
from rtguard.findings.build import FindingContext, build_finding
from rtguard.model.codec import decode_event, encode_event
from rtguard.model.events import Event, EventKind, LibraryPayload
from rtguard.model.findings import FINDING_TYPES_BY_NAME
from rtguard.testing.behaviour import run
from rtguard.testing.events import BASE_TIME, ancestor, event, exec_event, file_event

LIB = "Execution:Runtime/NewLibraryLoaded"
OTHER_CONTAINER = "ab" * 32


def load(path: str = "/tmp/libx.so", *, written_after_start: bool = True, **kw: Any) -> Event:
    kw.setdefault("name", "python3")
    payload = LibraryPayload(path=path, written_after_start=written_after_start, dev=2049, ino=77)
    return event(EventKind.LIBRARY_LOAD, payload, **kw)


def test_library_written_then_loaded_names_the_writer_and_the_path() -> None:
    events = [
        file_event("/tmp/libx.so", name="cp", exe_path="/usr/bin/cp", time=BASE_TIME),
        load("/tmp/libx.so", time=BASE_TIME + 2_000_000_000),
    ]
    (d,) = run(events, LIB)
    assert d.rule_id == "RTG-0134"
    assert d.context == {
        "libraryPath": "/tmp/libx.so",
        "modifyingProcess": "/usr/bin/cp",
        "modifiedAt": "2023-11-14T22:13:20.000Z",
    }
    assert d.artifact == "/tmp/libx.so"
    assert d.event.process.name == "python3"


def test_rename_and_link_targets_are_the_written_paths() -> None:
    renamed = [
        file_event("/tmp/.x", name="curl", exe_path="/usr/bin/curl"),
        file_event("/tmp/.x", kind=EventKind.FILE_RENAME, target_path="/usr/lib/libssl.so.3", name="mv"),
        load("/usr/lib/libssl.so.3"),
    ]
    (d,) = run(renamed, LIB)
    assert d.context["modifyingProcess"] == "/usr/bin/mv"
    linked = [
        file_event("/tmp/a.so", kind=EventKind.FILE_LINK, target_path="/tmp/b.so", name="ln"),
        load("/tmp/b.so"),
    ]
    (d2,) = run(linked, LIB)
    assert d2.context["modifyingProcess"] == "/usr/bin/ln"


def test_flagged_by_the_sensor_without_a_seen_write() -> None:
    (d,) = run([load("/var/lib/app/libplugin.so")], LIB)
    assert d.context == {"libraryPath": "/var/lib/app/libplugin.so"}


def test_a_seen_write_is_enough_without_the_sensor_flag() -> None:
    events = [file_event("/tmp/liby.so", name="cc1"), load("/tmp/liby.so", written_after_start=False)]
    (d,) = run(events, LIB)
    assert set(d.context) == {"libraryPath", "modifyingProcess", "modifiedAt"}


def test_image_libraries_host_processes_and_other_containers_are_not_new() -> None:
    assert not run([load("/usr/lib/x86_64-linux-gnu/libz.so.1", written_after_start=False)], LIB)
    assert not run([load("/tmp/libx.so", container_id=None)], LIB)
    other = [
        file_event("/tmp/libq.so", name="cp", container_id=OTHER_CONTAINER),
        load("/tmp/libq.so", written_after_start=False),
    ]
    assert not run(other, LIB)
    assert not run([load("")], LIB)


def test_chmod_is_not_a_modification_of_the_content() -> None:
    events = [
        file_event("/tmp/libz.so", kind=EventKind.FILE_CHMOD, name="chmod"),
        load("/tmp/libz.so", written_after_start=False),
    ]
    assert not run(events, LIB)


def test_installers_and_what_they_start_are_benign() -> None:
    so = "/usr/local/lib/python3.12/site-packages/_cffi_backend.cpython-312-x86_64-linux-gnu.so"
    cases = [
        file_event(so, name="pip"),
        file_event(so, name="python3", argv=["python3", "-m", "pip", "install", "cffi"]),
        file_event(
            so,
            name="ld",
            lineage=[ancestor("collect2", pid=90), ancestor("gcc", pid=89), ancestor("pip", pid=80)],
        ),
        file_event("/usr/lib/x86_64-linux-gnu/libjq.so.1", name="dpkg"),
        file_event(
            "/app/node_modules/bcrypt/build/Release/bcrypt_lib.node",
            name="g++",
            lineage=[ancestor("npm", pid=70)],
        ),
        # a shebang script: the kernel runs the interpreter with the script as argv[1]
        file_event(
            so, name="python3.12", argv=["/usr/bin/python3.12", "/usr/local/bin/pip3", "install", "cffi"]
        ),
    ]
    for write in cases:
        path = write.payload.path  # type: ignore[union-attr]
        assert not run([write, load(path)], LIB), write.process


def test_a_name_chosen_by_the_caller_does_not_make_an_installer() -> None:
    so = "/tmp/libevil.so"
    spoofed = [
        file_event(so, name="curl", argv=["pip", "-o", so, "http://127.0.0.1/x"]),  # exec -a pip curl
        file_event(so, name="pip", argv=["pip", "install", "x"], exe_written_after_start=True),
    ]
    for write in spoofed:
        assert run([write, load(so)], LIB), write.process


def test_installers_run_as_interpreter_scripts_and_their_descendants_are_benign() -> None:
    addon = "/app/node_modules/bcrypt/build/Release/bcrypt_lib.node"
    npm = exec_event("node", argv=["node", "/usr/bin/npm", "ci"], pid=500)
    # node-gyp's compiler: its lineage names no installer (npm runs as "node"), its exec ids do
    gxx = exec_event(
        "g++",
        pid=503,
        lineage=[ancestor("make", pid=502), ancestor("node", pid=501), ancestor("node", pid=500)],
    )
    link = file_event(
        addon,
        name="ld",
        lineage=[
            ancestor("g++", pid=503),
            ancestor("make", pid=502),
            ancestor("node", pid=501),
            ancestor("node", pid=500),
        ],
    )
    assert not run([npm, gxx, link, load(addon, name="node")], LIB)
    pip = file_event(
        "/usr/local/lib/python3.12/site-packages/x.so",
        name="python3.12",
        argv=["/usr/bin/python3", "/usr/local/bin/pip", "install", "x"],
    )
    assert not run([pip, load("/usr/local/lib/python3.12/site-packages/x.so")], LIB)
    # without the installer's exec the same compiler's output is new
    assert run([gxx, link, load(addon, name="node")], LIB)


def test_installer_descent_is_carried_exec_by_exec_beyond_the_lineage() -> None:
    chain = [exec_event("node", argv=["node", "/usr/bin/npm", "install"], pid=600)]
    for depth in range(1, 12):
        chain.append(exec_event("sh", pid=600 + depth, parent=ancestor("sh", pid=600 + depth - 1)))
    # the linker's own lineage (cut short) names only the last shells, none of them an installer
    link = file_event("/app/build/addon.node", name="ld", lineage=[ancestor("sh", pid=611)])
    assert not run([*chain, link, load("/app/build/addon.node", name="node")], LIB)
    assert run([*chain[1:], link, load("/app/build/addon.node", name="node")], LIB)


def test_naming_an_installer_as_an_argument_does_not_make_an_installer() -> None:
    events = [file_event("/tmp/libx.so", name="cp", argv=["cp", "pip", "/tmp/libx.so"]), load("/tmp/libx.so")]
    assert run(events, LIB)
    shell = exec_event("sh", argv=["sh", "-c", "pip install x; cp /x.so /tmp/liby.so"], pid=520)
    copy = file_event("/tmp/liby.so", name="cp", lineage=[ancestor("sh", pid=520)])
    assert run([shell, copy, load("/tmp/liby.so")], LIB)


def test_an_installed_library_overwritten_later_is_reported() -> None:
    so = "/usr/local/lib/libfoo.so"
    events = [file_event(so, name="pip"), file_event(so, name="cp", exe_path="/bin/cp"), load(so)]
    (d,) = run(events, LIB)
    assert d.context["modifyingProcess"] == "/bin/cp"


def test_python_running_a_script_is_not_an_installer() -> None:
    events = [
        file_event("/tmp/libevil.so", name="python3", argv=["python3", "/tmp/pipeline.py", "-m", "x"]),
        load("/tmp/libevil.so"),
    ]
    assert run(events, LIB)


def test_registered_with_the_type_severity_and_tactic() -> None:
    assert any(isinstance(d, NewLibraryDetector) for d in BUILTIN)
    t = FINDING_TYPES_BY_NAME[LIB]
    assert (t.severity, t.tactic, t.technique, t.scope) == (5.0, "DefenseEvasion", "T1574.006", "container")


def test_finding_document_has_the_library_context() -> None:
    (d,) = run([file_event("/tmp/libx.so", name="cp", exe_path="/usr/bin/cp"), load("/tmp/libx.so")], LIB)
    doc: Any = build_finding(
        FindingContext(account_id="1" * 12, region="us-east-1", detector_id="d"), d, now_ns=0
    )
    assert doc["type"] == LIB and doc["severity"] == 5.0
    context = doc["service"]["runtimeDetails"]["context"]
    assert context["libraryPath"] == "/tmp/libx.so"
    assert context["modifyingProcess"] == {"executablePath": "/usr/bin/cp", "name": "cp"}
    assert context["modifiedAt"] == "2023-11-14T22:13:20.000Z"
    assert set(context) == {"libraryPath", "modifyingProcess", "modifiedAt"}


def test_library_load_event_survives_the_wire_codec() -> None:
    e = load("/tmp/libx.so")
    back = decode_event(encode_event(e))
    assert back.payload == e.payload
