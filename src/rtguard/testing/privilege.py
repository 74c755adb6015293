"""The privileged-test policy: skip on a developer machine, fail on CI.

A test that needs root, BPF or runc calls ``require``; on CI (``CI=true``) a missing
capability is a failure, never a silent skip. Imports pytest; only tests use this module.
"""

from __future__ import annotations

import os

import pytest


def require(condition: bool, reason: str) -> None:
    """Skip (developer machine) or fail (CI) the calling test when ``condition`` is false."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"privileged test cannot run on CI: {reason}")
    pytest.skip(reason)


def require_root() -> None:
    """Require root (BPF, runc, network namespaces)."""
    require(os.geteuid() == 0, "needs root")
