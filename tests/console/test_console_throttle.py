"""Failed sign-ins are limited per client address: the throttle's sliding window (fake clock),
and over HTTP a fourth attempt after three failures is refused with 429 even with the right
secret, while a success clears the count."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from rtguard.console import ConsoleConfig, mount_console
from rtguard.console.throttle import FailureThrottle
from rtguard.testing.apiserver import serve_in_thread

from .conftest import REGION, SESSION_KEY, ConsoleEnv, sign_in


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_window_and_reset() -> None:
    clock = _Clock()
    throttle = FailureThrottle(3, 60.0, clock=clock, max_keys=2)
    for _ in range(2):
        throttle.failed("a")
    assert throttle.retry_after("a") == 0.0
    clock.now += 10
    throttle.failed("a")
    assert throttle.retry_after("a") == pytest.approx(50.0)  # the first failure leaves the window at 1060
    clock.now += 50.0
    assert throttle.retry_after("a") == 0.0
    throttle.failed("a")
    throttle.failed("a")
    assert throttle.retry_after("a") > 0
    throttle.succeeded("a")
    assert throttle.retry_after("a") == 0.0
    for key in ("x", "y", "z"):  # bounded memory: the oldest key is forgotten
        for _ in range(3):
            throttle.failed(key)
    assert throttle.retry_after("x") == 0.0 and throttle.retry_after("z") > 0
    with pytest.raises(ValueError):
        FailureThrottle(0, 1.0)


def test_repeated_failed_sign_ins_are_refused(console_env: ConsoleEnv) -> None:
    app = FastAPI()
    config = ConsoleConfig(region=REGION, session_key=SESSION_KEY, login_attempts=3, login_window=300.0)
    mount_console(app, console_env.store, config)
    with serve_in_thread(app) as url, httpx.Client(base_url=url) as client:
        assert sign_in(client, console_env.key_id, console_env.secret).status_code == 303
        for _ in range(2):
            assert sign_in(client, console_env.key_id, "wrong").status_code == 401
        # a success clears the count, so two more failures are still allowed
        assert sign_in(client, console_env.key_id, console_env.secret).status_code == 303
        for _ in range(3):
            assert sign_in(client, console_env.key_id, "wrong").status_code == 401
        refused = sign_in(client, console_env.key_id, console_env.secret)
        assert refused.status_code == 429
        assert "Too many failed sign-ins from this address" in refused.text
        assert "rtguard_console=" not in refused.headers.get("set-cookie", "")
