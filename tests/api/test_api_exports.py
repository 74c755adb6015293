"""The public surface of rtguard.api is deliberate: adding or removing a name updates this test."""

from __future__ import annotations

import rtguard.api


def test_api_exports() -> None:
    assert sorted(rtguard.api.__all__) == [
        "AccessDeniedError",
        "ApiError",
        "BadRequestError",
        "InternalServerError",
        "MODEL_OPERATIONS",
        "NotFoundError",
        "build_api",
        "install_error_handlers",
        "mount_api",
    ]
    for name in rtguard.api.__all__:
        assert hasattr(rtguard.api, name)
