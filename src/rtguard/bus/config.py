"""Settings of the NATS JetStream bus (stream, subjects, limits), a plain value type so that the
command line and the server can hold them without importing the NATS client.

Data only: no I/O, no validation beyond types (``NatsBus`` checks values when it starts).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NatsConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class NatsConfig:
    """Names and limits of the JetStream side. Every process of one deployment uses the same."""

    stream: str = "RTGUARD_EVENTS"
    subject_prefix: str = "rtguard.events"
    partitions: int = 32
    durable: str = "rtguard-detect"
    max_bytes: int = 1 << 30  # stream size; when full, publishes fail (agents retry), nothing is dropped
    duplicate_window: float = 600.0  # seconds JetStream remembers message ids
    max_in_flight: int = 1024  # unacked messages the detection consumer may hold
    ack_wait: float = 30.0  # seconds before an unacked message is delivered again
    timeout: float = 5.0  # seconds for connect, publish and API calls (JetStream acks in milliseconds)
