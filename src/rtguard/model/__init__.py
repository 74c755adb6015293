"""Pure data shared by agent and server: events, findings and the wire codec.

Stdlib only; nothing here does I/O or imports another rtguard package.
"""

from rtguard.model.codec import Batch, CodecError, decode_batch, decode_event, encode_batch, encode_event
from rtguard.model.events import (
    Container,
    EcsTask,
    Event,
    EventKind,
    Host,
    LineageEntry,
    Process,
)
from rtguard.model.findings import FINDING_TYPES, FINDING_TYPES_BY_NAME, Detection, FindingType

__all__ = [
    "FINDING_TYPES",
    "FINDING_TYPES_BY_NAME",
    "Batch",
    "CodecError",
    "Container",
    "Detection",
    "EcsTask",
    "Event",
    "EventKind",
    "FindingType",
    "Host",
    "LineageEntry",
    "Process",
    "decode_batch",
    "decode_event",
    "encode_batch",
    "encode_event",
]
