"""What every console page handler shares: the console's settings (``ConsoleConfig``), the
server's loss counters hook, and ``PageContext`` (store, authentication, findings hooks, clock)
with the two look-ups every page makes: the signed-in account's detector and the page frame
(session, navigation, title).

Must not define routes, query beyond the detector look-up, or render.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rtguard.console import data
from rtguard.console.auth import ConsoleAuth, ConsoleError
from rtguard.console.session import Session

if TYPE_CHECKING:
    from rtguard.findings.lifecycle import FindingHooks

__all__ = ["ConsoleConfig", "PageContext", "ServerCounters"]

# Server-wide loss counters the server hands in: (stage, reason, count).
ServerCounters = Callable[[], Sequence[tuple[str, str, int]]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleConfig:
    """Console settings, built by the server."""

    region: str
    agent_timeout: float = 60.0  # the coverage monitor's: an agent older than this is not reporting
    session_ttl: float = 8 * 3600.0
    session_key: bytes | None = None  # None: a random key per process (sessions end at restart)
    login_attempts: int = 10  # failed sign-ins per client address within login_window ...
    login_window: float = 300.0  # ... before that address is refused (429) for the rest of it


@dataclass(frozen=True, slots=True, kw_only=True)
class PageContext:
    """Everything a page handler needs besides its request."""

    store: data.ConsoleStore
    auth: ConsoleAuth
    config: ConsoleConfig
    hooks: FindingHooks | None = None
    clock: Callable[[], float] = field(default=time.time)
    server_counters: ServerCounters | None = None

    def detector(self, session: Session) -> str:
        """The signed-in account's detector.

        Raises:
            ConsoleError: 404 when the account has none.
        """
        found = data.detector_of(self.store, session.account_id)
        if found is None:
            raise ConsoleError(
                404, "No detector", "This account has no detector; create one with CreateDetector."
            )
        return found

    @staticmethod
    def frame(session: Session, nav: str, title: str) -> dict[str, Any]:
        """The template variables of the page frame (header, navigation, sign-out form)."""
        return {"session": session, "nav": nav, "title": title}
