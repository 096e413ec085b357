"""The problems of the subjects domain that ``gateway.errors`` has no class for."""

from __future__ import annotations

from gateway.errors import GatewayError


class Unprocessable(GatewayError):
    status = 422
    default_slug = "unprocessable"
    title = "Unprocessable request"


class OutsideArea(Unprocessable):
    """A municipality key outside the caller's area (``areas``)."""

    default_slug = "municipality-outside-area"
    title = "Municipality outside your area"
