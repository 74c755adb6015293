"""``@frozen`` value types: keyword-only, slotted, equal and hashable by their fields."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rtguard.model.events import Host
from rtguard.model.frozen import frozen


@frozen
class _Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = dataclasses.field(default_factory=tuple)


def test_fields_compare_and_hash_like_a_frozen_dataclass() -> None:
    assert _Point(x=1) == _Point(x=1, y=0)
    assert _Point(x=1) != _Point(x=2)
    assert len({_Point(x=1), _Point(x=1), _Point(x=2)}) == 2
    assert dataclasses.replace(_Point(x=1), y=5) == _Point(x=1, y=5)
    assert not hasattr(_Point(x=1), "__dict__")  # slotted


def test_keyword_only() -> None:
    with pytest.raises(TypeError):
        _Point(1)  # type: ignore[call-arg]


def test_mypy_rejects_assigning_a_field(tmp_path: Path) -> None:
    """Immutability is the type checker's job: an assignment fails ``mypy --strict``."""
    src = tmp_path / "assign.py"
    src.write_text(
        textwrap.dedent(
            """
            from rtguard.model.events import Host
            h = Host(hostname="a", instance_id="", boot_id="")
            h.hostname = "b"
            """
        )
    )
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(src)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1, out.stdout
    assert "read-only" in out.stdout and "hostname" in out.stdout
    assert Host(hostname="a", instance_id="", boot_id="").hostname == "a"
