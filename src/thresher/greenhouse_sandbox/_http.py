"""What every handler of the Greenhouse sandbox answers with: JSON bodies and ``ApiError``, and
the error shapes Greenhouse uses (docs/greenhouse.md §3; the [U] wordings are listed in §5)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

__all__ = ["JSON", "ApiError", "answer", "invalid", "not_found", "unauthorized"]

JSON = "application/json; charset=utf-8"


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    if status == 204:
        return Response(status_code=204, headers=headers)
    return Response(orjson.dumps(body), status, headers=headers, media_type=JSON)


def invalid(field: str, message: str) -> ApiError:
    return ApiError(422, {"message": "Validation error", "errors": [{"message": message, "field": field}]})


def unauthorized(reason: str) -> ApiError:
    return ApiError(401, {"message": "Unauthorized", "errors": [reason]})


def not_found() -> ApiError:
    return ApiError(404, {"message": "Resource not found"})
