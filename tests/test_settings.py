"""Settings refuse development-only choices in production."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.settings import Settings


def test_development_defaults() -> None:
    settings = Settings(data_dir="/tmp/x")  # noqa: S108 - never created
    assert settings.resolved_database_url.startswith("sqlite:///")
    assert settings.token_endpoint == "http://127.0.0.1:8000/oauth/token"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"allow_client_secret_basic": True}, "CLIENT_SECRET_BASIC"),
        ({"database_url": None}, "PostgreSQL"),
        ({"issuer": "http://gateway.example"}, "https"),
        ({"keys_dir": None}, "KEYS_DIR"),
    ],
)
def test_production_refuses_development_settings(
    overrides: dict[str, object], message: str
) -> None:
    values: dict[str, object] = {
        "env": "production",
        "database_url": "postgresql+psycopg://gw@db/gw",
        "issuer": "https://gateway.example",
        "keys_dir": "/etc/gateway/keys",
        **overrides,
    }
    with pytest.raises(ValidationError, match=message):
        Settings(**values)  # type: ignore[arg-type]
