"""GuardDuty's error shapes on the wire: the exceptions the API raises and the JSON responses
they become, in the form botocore's rest-json parser turns into ``ClientError`` with the right
``Error.Code`` (``x-amzn-ErrorType`` header, ``{"message", "__type"}`` body).

Exception tree::

    ApiError                         (code, HTTP status, message)
     ├── BadRequestError             400 BadRequestException: invalid input, unknown detector,
     │                                   operation not implemented yet
     ├── AccessDeniedError           403 AccessDeniedException: unsigned, badly signed, unknown key
     ├── NotFoundError               404 NotFoundException: no such path
     └── InternalServerError         500 InternalServerErrorException: a bug (details only in logs)

Must not decide *when* to fail (handlers and ``sigv4`` do) and must not leak internals in messages.
"""

from __future__ import annotations

import json
import uuid
from typing import ClassVar

from starlette.responses import Response

__all__ = [
    "AccessDeniedError",
    "ApiError",
    "BadRequestError",
    "InternalServerError",
    "NotFoundError",
    "error_response",
    "new_request_id",
]


def new_request_id() -> str:
    """A fresh request id for the ``x-amzn-RequestId`` header."""
    return str(uuid.uuid4())


def error_response(code: str, status: int, message: str, request_id: str | None = None) -> Response:
    """The JSON error response botocore parses into ``ClientError(Code=code, Message=message)``."""
    body = json.dumps({"message": message, "__type": code})
    return Response(
        content=body,
        status_code=status,
        media_type="application/json",
        headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": request_id or new_request_id()},
    )


class ApiError(Exception):
    """An error answered to the client with GuardDuty's error shape."""

    code: ClassVar[str] = "InternalServerErrorException"
    status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_response(self, request_id: str | None = None) -> Response:
        """This error as an HTTP response."""
        return error_response(self.code, self.status, self.message, request_id)


class BadRequestError(ApiError):
    """400 BadRequestException."""

    code = "BadRequestException"
    status = 400


class AccessDeniedError(ApiError):
    """403 AccessDeniedException (authentication failures of every kind)."""

    code = "AccessDeniedException"
    status = 403


class NotFoundError(ApiError):
    """404 for paths that are not part of the API."""

    code = "NotFoundException"
    status = 404


class InternalServerError(ApiError):
    """500 InternalServerErrorException; the message never carries a trace."""

    code = "InternalServerErrorException"
    status = 500
