"""The ``Detector`` protocol for stateful detection, and the per-partition ``EngineState``.

Behaviour that needs memory across events (a binary written then executed, a shell whose
stdin is a socket) lives in detectors: each declares the event kinds it wants, creates its
own state object, and *returns* detections from ``on_event``; it never calls back. The
engine keeps one ``EngineState`` per partition (a task or host) and passes each detector its
own slot. This module must not hold detector implementations (``rtguard.detect.detectors``
does) and must not do I/O.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from rtguard.model.events import Event, EventKind
from rtguard.model.findings import Detection

StateT = TypeVar("StateT")


class Detector(Protocol[StateT]):
    """A stateful detector.

    ``rule_id`` names the detector in detections and error counters (``RTG-NNNN``). ``kinds``
    are the event kinds it is given. ``new_state`` makes an empty state for one partition.
    ``on_event`` may update ``state`` and returns the detections for this event; an empty list
    means no detection. It must not modify the event and must not do I/O; it is called by one
    thread at a time per state object.
    """

    @property
    def rule_id(self) -> str: ...

    @property
    def kinds(self) -> frozenset[EventKind]: ...

    def new_state(self) -> StateT: ...

    def on_event(self, event: Event, state: StateT) -> list[Detection]: ...


class EngineState:
    """The states of every detector for one partition, created on first use."""

    __slots__ = ("_states",)

    def __init__(self) -> None:
        self._states: dict[int, Any] = {}

    def of(self, detector: Detector[Any]) -> Any:
        """The state of ``detector`` in this partition (made by ``detector.new_state()``)."""
        key = id(detector)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = detector.new_state()
        return state
