"""RFC 6749 error responses of the OAuth endpoints (section 5.2).

https://www.rfc-editor.org/rfc/rfc6749#section-5.2 — the token, introspection
and revocation endpoints answer errors with ``{"error", "error_description"}``
rather than problem details, because OAuth clients expect exactly that.
"""

from __future__ import annotations

from typing import ClassVar


class OAuthError(Exception):
    error: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 400

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    error = "invalid_client"
    status = 401


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class UnsupportedTokenType(OAuthError):
    """RFC 7009 section 2.2.1."""

    error = "unsupported_token_type"
