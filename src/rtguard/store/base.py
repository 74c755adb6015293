"""The ``Store`` protocol: everything the server keeps durably (accounts and their credentials,
detectors, the ingest log of runtime events with consumer cursors, and findings in GuardDuty's wire
shape), stated as one typed boundary that SQLite and PostgreSQL implement (``SqlStore``).

This module only declares the contract and its small value types; it must not import SQLAlchemy or
any backend, and must not hold state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, NamedTuple, Protocol

from rtguard.store.lifecycle import LifecycleStore
from rtguard.store.org_types import OrganizationStore
from rtguard.store.query import Condition, FindingPage, Scope, SortSpec
from rtguard.store.stats import GroupBy

__all__ = ["DEFAULT_SORT", "EventRow", "FindingUpsert", "Store", "StoreError", "UnknownAccountError"]

# Without a sort criterion findings come newest-created first. createdAt never changes, so paging
# through this order neither repeats nor skips findings that are re-aggregated meanwhile.
DEFAULT_SORT: Final = SortSpec(field="createdAt", descending=True)


class EventRow(NamedTuple):
    """One stored runtime event: its position in the ingest log, its account, its JSON text."""

    id: int
    account_id: str
    event_json: str


class FindingUpsert(NamedTuple):
    """The arguments of one :meth:`Store.upsert_finding`, for :meth:`Store.apply_findings_once`."""

    account_id: str
    detector_id: str
    finding_id: str
    doc: Mapping[str, Any]
    seen_at: str


class StoreError(Exception):
    """Base of the store's own errors.

    StoreError
     └── UnknownAccountError      the account id does not exist (create it first)
    Backend errors (SQLAlchemy's) propagate unchanged: they are bugs or outages, not user errors.
    """


class UnknownAccountError(StoreError):
    """The account id is not known to the store."""


class Store(LifecycleStore, OrganizationStore, Protocol):
    """Durable state of an rtguard server.

    Every method is safe to call concurrently from several threads of one process (each call is
    its own transaction); the SQL backends are also safe across processes sharing one database.
    Returned dicts and lists are fresh copies owned by the caller.
    """

    # -- accounts and credentials ------------------------------------------------------------------

    def create_account(self, account_id: str, region: str) -> None:
        """Create an account (12 digits). Creating an existing account again is a no-op.

        Raises:
            ValueError: the id is not 12 digits, or the account exists with another region.
        """
        ...

    def get_account_region(self, account_id: str) -> str | None:
        """The account's region; None when the account does not exist."""
        ...

    def create_access_key(self, account_id: str) -> tuple[str, str]:
        """Issue an AWS-style key pair ("AKIA" + 16 upper-case alphanumerics, 40-char secret).

        Raises:
            UnknownAccountError: the account does not exist.
        """
        ...

    def lookup_secret(self, access_key_id: str) -> tuple[str, str] | None:
        """``(account_id, secret)`` for a key id; None when the key is unknown."""
        ...

    def create_agent_token(self, account_id: str) -> str:
        """Issue an agent enrollment token (only its hash is stored; the token is shown once).

        Raises:
            UnknownAccountError: the account does not exist.
        """
        ...

    def lookup_agent_token(self, token: str) -> str | None:
        """The account id a token belongs to; None when the token is unknown."""
        ...

    # -- detectors ---------------------------------------------------------------------------------

    def create_detector(self, account_id: str, tags: Mapping[str, str] | None = None) -> str:
        """Create an ENABLED detector with Runtime Monitoring on; returns its 32-hex id.

        Raises:
            UnknownAccountError: the account does not exist.
        """
        ...

    def list_detectors(self, account_id: str) -> list[str]:
        """The account's detector ids, oldest first; empty when it has none (or does not exist)."""
        ...

    def get_detector(self, account_id: str, detector_id: str) -> dict[str, Any] | None:
        """The detector in GetDetector's wire shape; None when it does not exist *or* belongs to
        another account (callers must not be able to tell the two apart)."""
        ...

    # -- ingest log --------------------------------------------------------------------------------

    def record_batch(self, account_id: str, agent_id: str, seq: int, events: Sequence[str]) -> bool:
        """Durably append one agent batch (events as JSON text) in one transaction.

        Returns:
            True when the batch was stored; False when ``(agent_id, seq)`` was already recorded, in
            which case nothing is stored (a retried batch is acknowledged without duplicates).
        """
        ...

    def events_after(self, cursor_id: int, limit: int) -> list[EventRow]:
        """Up to ``limit`` events with id > ``cursor_id``, in id order; empty when caught up.

        Ids must become visible in increasing order, or a reader could move its cursor past an id
        committed late. SQLite guarantees it (one writer at a time); on PostgreSQL
        ``record_batch`` serialises appends with an advisory lock to keep the guarantee.
        """
        ...

    def get_cursor(self, name: str) -> int:
        """A consumer's last processed event id; 0 when the consumer never saved one."""
        ...

    def set_cursor(self, name: str, position: int) -> None:
        """Save a consumer's last processed event id (overwrites)."""
        ...

    def count_events(self, agent_id: str | None = None) -> int:
        """Number of stored events, of one agent or of all."""
        ...

    # -- findings ----------------------------------------------------------------------------------

    def upsert_finding(
        self, account_id: str, detector_id: str, finding_id: str, doc: Mapping[str, Any], seen_at: str
    ) -> tuple[dict[str, Any], bool]:
        """Insert a new finding or aggregate a recurrence into the existing one, atomically.

        A new id stores ``doc`` as given with ``service.count = 1``. An existing id keeps its
        document, increments ``service.count`` and moves ``service.eventLastSeen`` and ``updatedAt``
        to ``seen_at`` (ISO 8601) unless they are already later; ``createdAt`` is kept and
        ``service.eventFirstSeen`` only moves if ``seen_at`` is earlier (out-of-order delivery).

        Returns:
            ``(stored document, created)``.
        """
        ...

    def apply_findings_once(
        self, message_key: str, upserts: Sequence[FindingUpsert]
    ) -> list[tuple[dict[str, Any], bool]] | None:
        """Apply every upsert (as :meth:`upsert_finding`) and record ``message_key``, in one
        transaction, unless the key was recorded before: then nothing changes.

        This is what makes a redelivered bus message count once: concurrent callers with one key
        apply it exactly once between them.

        Returns:
            The ``(stored document, created)`` of each upsert in order; None when the key was
            already applied.
        """
        ...

    def prune_applied(self, older_than: datetime) -> int:
        """Forget message keys applied before ``older_than`` (a redelivery is only possible while
        a message is unacknowledged, or re-published by an agent retry); returns how many."""
        ...

    def get_findings(self, detector_id: Scope, finding_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The documents of the given ids in request order; unknown ids are left out (so an empty
        list means none of them exist in this detector)."""
        ...

    def query_findings(
        self,
        detector_id: Scope,
        conditions: Sequence[Condition],
        sort: SortSpec | None,
        max_results: int,
        next_token: str | None,
    ) -> FindingPage:
        """One page of ids of the findings matching every condition, in ``sort`` order
        (``DEFAULT_SORT`` when None). An empty page with no token means nothing (more) matches.

        Raises:
            rtguard.store.query.InvalidPageTokenError: ``next_token`` is malformed or from another query.
        """
        ...

    def finding_statistics(
        self,
        detector_id: Scope,
        conditions: Sequence[Condition],
        group_by: GroupBy | None,
        descending: bool = True,
        max_results: int = 25,
    ) -> dict[str, Any]:
        """``FindingStatistics`` (wire shape) over the matching findings: ``countBySeverity`` when
        ``group_by`` is None, else the one ``groupedBy…`` list. No findings gives empty counts."""
        ...

    def close(self) -> None:
        """Release connections. The store must not be used afterwards."""
        ...
