"""Execution:Runtime/ReverseShell: a shell whose stdin and stdout are sockets, started by (or
as) a process that opened an outbound TCP connection.

Remembers the processes (by ``exec_id``) that connected out over TCP; a shell exec with socket
stdin and stdout whose own process or a near ancestor made such a connection, and that reads
its commands from standard input (a session: ``sh -i``, a bare ``sh``, ``nc -e /bin/sh``), is
reported. A shell that runs a command string or a script (``sh -c cmd``, ``sh job.sh``) is not
a session on the connection: Node's ``child_process`` gives every child socketpair stdio, so a
service that made any outbound connection and then shells out would otherwise match. A shell
fed by an accepted connection alone (a bind shell: SuspiciousShellCreated) is not reported.

The other shape: a process that connected out over TCP and then put that very connection on
its own stdin and stdout with dup/dup2/dup3 (``stdio_redirect`` events), as the Python and Perl
one-liners do before they start a shell, which may then sit on a pty (``pty.spawn``) and have
no socket stdio at all. Reported once per process, when both fds 0 and 1 name the connection
it made; an accepted connection (an inetd-style service) is not its own outbound connection.
The sensor names the sockets' family: stdio on TCP/UDP (or a socket of unknown family, from
sensors that cannot tell) matches; stdio on a unix socketpair matches only when the process
that connected out is a relay tool (``socat TCP:host:port EXEC:sh`` hands its child a
socketpair), so a service's session shell on a socketpair does not. No context keys: the
process and its lineage are the evidence. Must not do I/O; state is bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from rtguard.detect.detectors._common import (
    RELAY_TOOLS,
    BoundedMap,
    ancestry_ids,
    is_shell,
    reads_commands_from_stdin,
)
from rtguard.model.events import Event, EventKind, NetPayload
from rtguard.model.findings import Detection

FINDING_TYPE: Final = "Execution:Runtime/ReverseShell"
_TCP: Final = 6


@dataclass(slots=True)
class ReverseShellState:
    """``exec_id`` → (``ip:port`` of the last outbound TCP connection, the process's name)."""

    connected: BoundedMap[tuple[str, str]] = field(default_factory=lambda: BoundedMap(20_000))
    # exec_id → the stdio fds (0, 1) a dup put its outbound connection on
    redirected: BoundedMap[frozenset[int]] = field(default_factory=lambda: BoundedMap(20_000))


class ReverseShellDetector:
    """See the module docstring."""

    rule_id: Final = "RTG-0131"
    kinds: Final = frozenset(
        {EventKind.NET_CONNECT, EventKind.PROCESS_EXEC, EventKind.PROCESS_EXIT, EventKind.STDIO_REDIRECT}
    )

    def new_state(self) -> ReverseShellState:
        return ReverseShellState()

    def on_event(self, event: Event, state: ReverseShellState) -> list[Detection]:
        p = event.process
        payload = event.payload
        if event.kind is EventKind.NET_CONNECT:
            if isinstance(payload, NetPayload) and payload.protocol == _TCP and payload.remote_port:
                state.connected.put(p.exec_id, (f"{payload.remote_ip}:{payload.remote_port}", p.name))
            return []
        if not state.connected:
            return []
        if event.kind is EventKind.PROCESS_EXIT:
            state.connected.pop(p.exec_id)
            state.redirected.pop(p.exec_id)
            return []
        if event.kind is EventKind.STDIO_REDIRECT:
            return self._on_redirect(event, state)
        stdin, stdout, _ = p.stdio_sockets  # every sensor sets these; the types refine them
        if not (stdin and stdout) or not is_shell(event) or not reads_commands_from_stdin(p.argv):
            return []
        hit = next((r for i in ancestry_ids(event) if (r := state.connected.get(i)) is not None), None)
        if hit is None:
            return []
        remote, connector = hit
        if "unix" in p.stdio_types[:2] and connector not in RELAY_TOOLS:
            return []
        return self._found(event, f"with stdin and stdout on a connection to {remote}")

    def _on_redirect(self, event: Event, state: ReverseShellState) -> list[Detection]:
        p, payload = event.process, event.payload
        hit = state.connected.get(p.exec_id)
        if hit is None or not isinstance(payload, NetPayload) or payload.fd not in (0, 1):
            return []
        remote = f"{payload.remote_ip}:{payload.remote_port}"
        if payload.protocol != _TCP or remote != hit[0]:
            return []
        before = state.redirected.get(p.exec_id) or frozenset()
        fds = before | {payload.fd}
        state.redirected.put(p.exec_id, fds)
        if fds == before or fds != {0, 1}:
            return []
        return self._found(event, f"put its connection to {remote} on its stdin and stdout")

    def _found(self, event: Event, what: str) -> list[Detection]:
        exe = event.process.exe_path
        return [
            Detection(
                finding_type=FINDING_TYPE,
                event=event,
                rule_id=self.rule_id,
                artifact=exe,
                description=f"Reverse shell: {exe} {what}",
            )
        ]
