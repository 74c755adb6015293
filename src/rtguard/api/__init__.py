"""The GuardDuty-compatible REST API (SigV4-authenticated), as a FastAPI router to mount.

Importing this package must not start a server or open a store.
"""

from rtguard.api.app import MODEL_OPERATIONS, build_api, install_error_handlers, mount_api
from rtguard.api.errors import (
    AccessDeniedError,
    ApiError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
)

__all__ = [
    "MODEL_OPERATIONS",
    "AccessDeniedError",
    "ApiError",
    "BadRequestError",
    "InternalServerError",
    "NotFoundError",
    "build_api",
    "install_error_handlers",
    "mount_api",
]
