"""Execution:Runtime/MaliciousFileExecuted: an executable whose SHA-256 is on a threat list runs.

The built-in list is deliberately small (test files whose hashes are published, so the path
can be exercised); deployments add their own through the hook: ``MaliciousFileDetector(extra=
{sha256: threat_name}, lookup=callable)``, where ``lookup`` returns a threat name or ``None``.
The context key is ``threatFilePath``; the evidence names the list, the threat and
``threatFileSha256``. Must not do I/O itself (a ``lookup`` that does is the
caller's choice) and must not touch the IP/domain threat-intelligence detector.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from rtguard.intel.samples import TEST_EXECUTABLE_SHA256, TEST_EXECUTABLE_THREAT
from rtguard.model.events import Event, EventKind
from rtguard.model.findings import Detection, ThreatIntelDetail

FINDING_TYPE: Final = "Execution:Runtime/MaliciousFileExecuted"

# sha256 → threat name. Test files only: EICAR's standard anti-virus test file, and rtguard's
# harmless test executable (``rtguard.intel.samples.TEST_EXECUTABLE``), which, unlike EICAR,
# can be run so that its own hash is the one recorded.
BUILTIN_THREAT_HASHES: Final[Mapping[str, str]] = {
    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f": "EICAR-Test-File",
    TEST_EXECUTABLE_SHA256: TEST_EXECUTABLE_THREAT,
}


class MaliciousFileDetector:
    """See the module docstring."""

    rule_id: Final = "RTG-0133"
    kinds: Final = frozenset({EventKind.PROCESS_EXEC})

    def __init__(
        self,
        *,
        extra: Mapping[str, str] | None = None,
        lookup: Callable[[str], str | None] | None = None,
        list_name: str = "rtguard built-in file hashes",
    ) -> None:
        self._hashes = {**BUILTIN_THREAT_HASHES, **{k.lower(): v for k, v in (extra or {}).items()}}
        self._lookup = lookup
        self.list_name = list_name

    def new_state(self) -> None:
        return None

    def on_event(self, event: Event, state: None) -> list[Detection]:
        sha = event.process.exe_sha256.lower()
        if not sha:
            return []
        threat = self._hashes.get(sha)
        if threat is None and self._lookup is not None:
            threat = self._lookup(sha)
        if threat is None:
            return []
        path = event.process.exe_path
        return [
            Detection(
                finding_type=FINDING_TYPE,
                event=event,
                rule_id=self.rule_id,
                artifact=sha,
                context={"threatFilePath": path},
                evidence=(ThreatIntelDetail(self.list_name, (threat,), sha),),
                description=f"Known malicious file executed: {path} ({threat}, sha256 {sha})",
            )
        ]
