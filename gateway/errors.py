"""Domain errors. Each carries the HTTP status and the stable problem type it maps to.

Services raise these and never import FastAPI; ``gateway.rfc9457`` renders them
as problem details. The tree::

    GatewayError
    ├── BadRequest          400 bad-request
    ├── NotFound            404 not-found (also for resources of another organisation)
    ├── Conflict            409 conflict
    ├── Forbidden           403 forbidden (a policy or consent denial names its reasons)
    ├── Unauthorized        401 unauthorized
    ├── PayloadTooLarge     413 payload-too-large
    └── TooManyRequests     429 too-many-requests
"""

from __future__ import annotations

from typing import Any, ClassVar


class GatewayError(Exception):
    status: ClassVar[int] = 500
    default_slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, *, slug: str | None = None, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        # A finer cause than the class names, e.g. "invalid-token" for a 401.
        self.type_slug: str = slug or self.default_slug
        self.extensions = extensions


class BadRequest(GatewayError):
    status = 400
    default_slug = "bad-request"
    title = "Bad request"


class Unauthorized(GatewayError):
    status = 401
    default_slug = "unauthorized"
    title = "Authentication required"


class Forbidden(GatewayError):
    status = 403
    default_slug = "forbidden"
    title = "Forbidden"


class NotFound(GatewayError):
    status = 404
    default_slug = "not-found"
    title = "Not found"


class Conflict(GatewayError):
    status = 409
    default_slug = "conflict"
    title = "Conflict"


class PayloadTooLarge(GatewayError):
    status = 413
    default_slug = "payload-too-large"
    title = "Payload too large"


class TooManyRequests(GatewayError):
    status = 429
    default_slug = "too-many-requests"
    title = "Too many requests"
