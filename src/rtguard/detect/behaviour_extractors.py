"""Extractors for the behavioural-rule fields that neither Falco nor the payload module has.

``fs.operation`` names a file change the way GuardDuty's ``fileOperation`` context key does
(Write, Delete, Rename, Link, Symlink, Chmod). Pure functions of one event; this module must
not keep state, must not do I/O and must not know rules or operators.
"""

from __future__ import annotations

from typing import Final

from rtguard.model.events import Event, EventKind

_FILE_OPERATIONS: Final = {
    EventKind.FILE_WRITE: "Write",
    EventKind.FILE_UNLINK: "Delete",
    EventKind.FILE_RENAME: "Rename",
    EventKind.FILE_LINK: "Link",
    EventKind.FILE_SYMLINK: "Symlink",
    EventKind.FILE_CHMOD: "Chmod",
}


def fs_operation(e: Event) -> str | None:
    """GuardDuty's ``fileOperation`` word for a file event; ``None`` for other kinds."""
    return _FILE_OPERATIONS.get(e.kind)
