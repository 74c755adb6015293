"""End to end, the behavioural types ``test_e2e_behaviours.py`` does not show: SuspiciousTool,
Execution:Runtime/SuspiciousCommand, Discovery:Runtime/SuspiciousCommand, MaliciousFileExecuted
and NewLibraryLoaded, from real behaviours in ONE runc container seen by the real eBPF sensor,
turned into findings by the real server and read back with boto3.

- SuspiciousTool: ``/bin/true`` run through a symlink named ``masscan`` (offensive scanner,
  High) and a copy named ``tcpdump`` (dual-use sniffer, Low).
- Execution:Runtime/SuspiciousCommand: ``sh -c "curl ... | sh"`` against an HTTP server on the
  container's own loopback (download piped to a shell).
- Discovery:Runtime/SuspiciousCommand: ``find /usr/bin -perm -4000`` (set-uid search).
- MaliciousFileExecuted: rtguard's harmless test executable (``rtguard.intel.samples``, on the
  built-in file-hash list) written to ``/tmp`` and run.
- NewLibraryLoaded: a copy of libz written to ``/tmp`` by ``cp`` and loaded with
  ``ctypes.CDLL`` (the kernel sensor's mmap hook reports it as a ``library_load``).

One server+agent stack and one container for the module. Network only on the container's own
loopback. Privileged: on CI a missing capability fails the test (``rtguard.testing.privilege``).
"""

from __future__ import annotations

import platform
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rtguard.intel.samples import TEST_EXECUTABLE, TEST_EXECUTABLE_SHA256, TEST_EXECUTABLE_THREAT
from rtguard.testing.e2e_stack import E2EStack, e2e_stack, ecs_container, wait_for_types
from rtguard.testing.privilege import require, require_root

pytestmark = pytest.mark.e2e
PY = "/usr/bin/python3"

TOOL = "Execution:Runtime/SuspiciousTool"
EXEC_CMD = "Execution:Runtime/SuspiciousCommand"
DISCOVERY = "Discovery:Runtime/SuspiciousCommand"
MALICIOUS = "Execution:Runtime/MaliciousFileExecuted"
LIBRARY = "Execution:Runtime/NewLibraryLoaded"

# type → (the context keys, exactly; the severity)
EXPECTED: dict[str, tuple[set[str], float]] = {
    TOOL: ({"toolName", "toolCategory"}, 8.0),  # masscan; tcpdump's finding is checked apart
    EXEC_CMD: ({"commandLineExample"}, 5.0),
    DISCOVERY: ({"commandLineExample"}, 2.0),
    MALICIOUS: ({"threatFilePath"}, 8.0),
}
LIBRARY_EXPECTED: tuple[set[str], float] = ({"libraryPath", "modifyingProcess", "modifiedAt"}, 5.0)

LIB_SOURCES = (
    "/usr/lib/x86_64-linux-gnu/libz.so.1",
    "/lib/x86_64-linux-gnu/libz.so.1",
    "/usr/lib64/libz.so.1",
    "/usr/lib/libz.so.1",
)
LIB_PATH = "/tmp/librtg.so"
SAMPLE_PATH = "/tmp/rtg-test-exe"
DOWNLOAD_CMD = "curl -fsS http://127.0.0.1:{port}/payload.sh | sh"

# A loopback HTTP server in a thread, then the download-and-run command in a shell of its own.
DOWNLOAD = r"""
import functools, http.server, subprocess, sys, threading
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory="/opt/rtg/www")
http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
threading.Thread(target=srv.serve_forever, daemon=True).start()
cmd = sys.argv[1].format(port=srv.server_address[1])
out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=20)
srv.shutdown()
print(out.stdout.strip(), out.returncode)
"""

# Load a library written in the container after it started.
LOAD = r"""
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
print("loaded", lib.zlibVersion is not None)
"""


@dataclass
class Outcome:
    """What the container did and the findings the API returned for it."""

    container_id: str
    found: dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    require_root()
    with e2e_stack(tmp_path_factory.mktemp("behaviours-more")) as s:
        yield s


def _context(finding: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = finding["Service"]["RuntimeDetails"].get("Context", {})
    return context


def _keys(finding: dict[str, Any]) -> set[str]:
    return {k[:1].lower() + k[1:] for k in _context(finding)}


def _executables(found: dict[str, list[dict[str, Any]]]) -> list[tuple[str, str, str]]:
    """(type, executable path, sha256) of every finding: shows whether a hash was recorded."""
    out = []
    for ftype, fs in found.items():
        for f in fs:
            p = f["Service"]["RuntimeDetails"]["Process"]
            out.append((ftype, p.get("ExecutablePath", ""), p.get("ExecutableSha256", "")))
    return out


def _run(box: Any, args: list[str], **kw: Any) -> str:
    out = box.exec(args, timeout=30, **kw)
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    return str(out.stdout)


@pytest.fixture(scope="module")
def outcome(stack: E2EStack) -> Outcome:
    require(platform.machine() == "x86_64", "the test executable is an x86-64 ELF")
    lib_source = next((p for p in LIB_SOURCES if Path(p).exists()), None)
    assert lib_source is not None, f"no libz to copy: install zlib1g ({LIB_SOURCES})"
    files = {
        "/opt/rtg/download.py": DOWNLOAD,
        "/opt/rtg/load.py": LOAD,
        "/opt/rtg/www/payload.sh": "echo downloaded-and-run\n",
    }
    with ecs_container(stack, "attacked-more", files=files) as box:
        # NewLibraryLoaded
        assert "loaded True" in _run(
            box, ["sh", "-c", f"cp {lib_source} {LIB_PATH} && {PY} /opt/rtg/load.py {LIB_PATH}"]
        )
        # SuspiciousTool, High and Low
        _run(box, ["sh", "-c", "ln -s /bin/true /tmp/masscan && /tmp/masscan -p1-65535 127.0.0.1"])
        _run(box, ["sh", "-c", "cp /bin/true /tmp/tcpdump && /tmp/tcpdump -i lo -c 1"])
        # Execution:Runtime/SuspiciousCommand
        assert _run(box, [PY, "/opt/rtg/download.py", DOWNLOAD_CMD]).strip() == "downloaded-and-run 0"
        # Discovery:Runtime/SuspiciousCommand
        _run(box, ["find", "/usr/bin", "-perm", "-4000", "-type", "f"])
        # MaliciousFileExecuted: the harmless test executable
        out = _run(
            box,
            ["sh", "-c", f"cat > {SAMPLE_PATH} && chmod 0755 {SAMPLE_PATH} && {SAMPLE_PATH}"],
            input=TEST_EXECUTABLE,
        )
        assert out == "rtguard harmless test executable\n"
        cid = box.container_id
        # ~10 s on an idle machine; the margin is for a machine busy with other agents' work
        found = wait_for_types(stack.gd, stack.detector_id, cid, {*EXPECTED, LIBRARY}, timeout=45)
    return Outcome(container_id=cid, found=found)


def test_real_behaviours_become_tool_command_discovery_and_malicious_file_findings(outcome: Outcome) -> None:
    found = outcome.found
    missing = sorted(set(EXPECTED) - set(found))
    assert not missing, f"missing: {missing}; got {sorted(found)}; executables: {_executables(found)}"
    for ftype, (keys, severity) in EXPECTED.items():
        mine = [f for f in found[ftype] if ftype != TOOL or _context(f).get("ToolName") == "masscan"]
        assert mine, (ftype, found[ftype])
        for f in mine:
            assert _keys(f) == keys, (ftype, _context(f))
            assert f["Severity"] == severity, (ftype, f["Severity"])

    tools = {_context(f)["ToolName"]: f for f in found[TOOL]}
    assert set(tools) == {"masscan", "tcpdump"}, sorted(tools)
    assert _context(tools["masscan"])["ToolCategory"] == "Network Scanner"
    assert (_keys(tools["tcpdump"]), tools["tcpdump"]["Severity"]) == ({"toolName", "toolCategory"}, 2.0)
    assert _context(tools["tcpdump"])["ToolCategory"] == "Network Sniffer"

    (cmd,) = found[EXEC_CMD]
    assert cmd["Service"]["RuntimeDetails"]["Process"]["Name"] in ("sh", "dash")
    assert "curl -fsS http://127.0.0.1:" in _context(cmd)["CommandLineExample"]
    assert _context(cmd)["CommandLineExample"].endswith("/payload.sh | sh")

    (disc,) = found[DISCOVERY]
    assert _context(disc)["CommandLineExample"] == "find /usr/bin -perm -4000 -type f"

    (mal,) = found[MALICIOUS]
    assert _context(mal) == {"ThreatFilePath": SAMPLE_PATH}
    assert mal["Service"]["RuntimeDetails"]["Process"]["ExecutableSha256"] == TEST_EXECUTABLE_SHA256
    (intel,) = mal["Service"]["Evidence"]["ThreatIntelligenceDetails"]
    assert intel["ThreatFileSha256"] == TEST_EXECUTABLE_SHA256
    assert intel["ThreatNames"] == [TEST_EXECUTABLE_THREAT]


def test_library_written_in_the_container_then_loaded_is_new_library_loaded(outcome: Outcome) -> None:
    assert LIBRARY in outcome.found, f"no {LIBRARY}; got {sorted(outcome.found)}"
    ours = [f for f in outcome.found[LIBRARY] if _context(f).get("LibraryPath") == LIB_PATH]
    assert len(ours) == 1, outcome.found[LIBRARY]
    (lib,) = ours
    keys, severity = LIBRARY_EXPECTED
    assert (_keys(lib), lib["Severity"]) == (keys, severity), _context(lib)
    assert _context(lib)["ModifyingProcess"]["ExecutablePath"] == "/usr/bin/cp"
    assert lib["Service"]["RuntimeDetails"]["Process"]["Name"].startswith("python3")
    assert lib["Service"]["Count"] == 1
    assert lib["Title"].startswith("A newly created or recently modified library was loaded in ")
    assert LIB_PATH in lib["Description"]
