"""Execution:Runtime/SuspiciousShellCreated: a network-facing service starts an interactive shell.

Remembers the processes (by ``exec_id``) that listen on a TCP port and are not shells or login
services; an interactive shell started as or by one of them is reported: one that reads its
commands from standard input (``-i``, ``-s``, or neither ``-c`` nor a script operand) that
is a terminal or a socket: a script piped or redirected into a bare ``sh`` (stdin a pipe, a
file or /dev/null) is not a session, nor is one fed through a unix socketpair (how Node and
other runtimes pipe a child's stdio) unless the service is a relay tool
(``socat TCP-LISTEN:... EXEC:sh`` hands its shell a socketpair).
Commands (``sh -c``, ``-ec``, ``-xc``, ...) and scripts (``sh job.sh``, a CGI or hook script
run directly) from services, and shells from sshd and container runtimes, are not. No context
keys: the parent process in the lineage is the network service. Must not do I/O; state is
bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from rtguard.detect.detectors._common import (
    NON_INTERACTIVE_STDIN,
    RELAY_TOOLS,
    BoundedMap,
    ancestry_ids,
    is_shell,
    reads_commands_from_stdin,
    stdio_type,
)
from rtguard.model.events import Event, EventKind, NetPayload
from rtguard.model.findings import Detection

FINDING_TYPE: Final = "Execution:Runtime/SuspiciousShellCreated"
LOGIN_SERVICES: Final = frozenset(
    {
        "sshd",
        "sshd-session",
        "dropbear",
        "containerd-shim",
        "containerd-shim-runc-v2",
        "runc",
        "dockerd",
        "tmux",
        "screen",
    }
)
_TCP: Final = 6


@dataclass(slots=True)
class SuspiciousShellState:
    """``exec_id`` → name of each listening network service."""

    listeners: BoundedMap[str] = field(default_factory=lambda: BoundedMap(20_000))


class SuspiciousShellDetector:
    """See the module docstring."""

    rule_id: Final = "RTG-0132"
    kinds: Final = frozenset({EventKind.NET_LISTEN, EventKind.PROCESS_EXEC, EventKind.PROCESS_EXIT})

    def new_state(self) -> SuspiciousShellState:
        return SuspiciousShellState()

    def on_event(self, event: Event, state: SuspiciousShellState) -> list[Detection]:
        p = event.process
        if event.kind is EventKind.NET_LISTEN:
            payload = event.payload
            tcp = isinstance(payload, NetPayload) and payload.protocol == _TCP
            if tcp and p.name not in LOGIN_SERVICES and not is_shell(event):
                state.listeners.put(p.exec_id, p.name)
            return []
        if not state.listeners:
            return []
        if event.kind is EventKind.PROCESS_EXIT:
            state.listeners.pop(p.exec_id)
            return []
        if not is_shell(event) or not reads_commands_from_stdin(p.argv):
            return []
        stdin = stdio_type(p, 0)
        if stdin in NON_INTERACTIVE_STDIN:
            return []
        service = next((s for i in ancestry_ids(event, 1) if (s := state.listeners.get(i)) is not None), None)
        if service is None or (stdin == "unix" and service not in RELAY_TOOLS):
            return []
        return [
            Detection(
                finding_type=FINDING_TYPE,
                event=event,
                rule_id=self.rule_id,
                artifact=p.exe_path,
                description=f"Network service {service} started an interactive shell {p.exe_path}",
            )
        ]
