"""Shared fixtures for every test tier."""

from __future__ import annotations

import pytest

from rtguard.testing.privilege import require_root


@pytest.fixture
def root() -> None:
    """Require root (for BPF, runc, network namespaces); fails on CI when missing."""
    require_root()
