"""Settings of the gateway: one pydantic-settings class, read from ``GATEWAY_*``.

Development is the default and works without configuration: the SQLite file and
generated development keys live in ``GATEWAY_DATA_DIR``. Production mode
(``GATEWAY_ENV=production``) refuses everything that is only fit for development.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:[0-9]{1,5})?$")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class InsecureSettingError(ValueError):
    """A development-only setting was used in production mode."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path("./var")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is SQLite in the data directory.",
    )
    issuer: str = "http://127.0.0.1:8000"
    keys_dir: Path | None = Field(
        default=None, description="Signing keys; default is <data_dir>/keys."
    )
    policies_dir: Path = REPOSITORY_ROOT / "policies"

    access_token_lifetime_seconds: int = Field(default=600, ge=30, le=900)
    client_assertion_max_lifetime_seconds: int = Field(default=600, ge=30, le=3600)
    allow_client_secret_basic: bool = False
    jwks_uri_cache_seconds: int = 300
    # Anyone can send an assertion with a made-up key id: a key id the cached JWK Set lacks
    # refetches a client's jwks_uri at most this often (gateway.auth.client_keys).
    jwks_uri_refetch_seconds: int = Field(default=60, ge=1, le=3600)
    jwks_uri_fetch_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    max_request_bytes: int = 256 * 1024
    # Requests in progress per process (gateway.admission); stays below the connection
    # pool (15 on SQLite, 20 on PostgreSQL) and the thread pool (40).
    max_concurrent_requests: int = Field(default=8, ge=1, le=14)
    admission_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    audit_checkpoint_every: int = Field(default=100, ge=1)
    audit_checkpoint_seconds: float = Field(default=60.0, gt=0)

    consent_confirmation_hours: int = Field(default=24, ge=1, le=168)
    # One-time codes that let jobcenter staff check a consent on the phone.
    consent_verification_minutes: int = Field(default=5, ge=1, le=15)
    consent_verification_codes_per_hour: int = Field(default=5, ge=1, le=60)
    consent_verification_lockout_attempts: int = Field(default=5, ge=3, le=20)
    consent_verification_lockout_minutes: int = Field(default=15, ge=1, le=1440)

    # Web pages (gateway.web): session lifetime, idle timeout, sign-in lockout.
    web_session_hours: int = Field(default=8, ge=1, le=24)
    web_idle_minutes: int = Field(default=30, ge=5, le=480)
    # The lockout holds one account for one client address (gateway.auth.signin_throttle).
    web_lockout_attempts: int = Field(default=5, ge=3, le=20)
    web_lockout_minutes: int = Field(default=15, ge=1, le=1440)
    # Failed sign-ins from one client address (any accounts) before it is paused (429).
    web_signin_address_attempts: int = Field(default=20, ge=5, le=1000)
    web_signin_address_minutes: int = Field(default=15, ge=1, le=1440)

    webhook_max_attempts: int = Field(default=8, ge=1, le=30)
    webhook_backoff_seconds: float = Field(default=5.0, ge=0)
    # Webhook delivery (gateway.webhooks): its own thread and pool, apart from the scheduler.
    # The time budget is for a whole request, connect to status line; a receiver that
    # never answers holds a worker no longer than that.
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    webhook_workers: int = Field(default=4, ge=1, le=32)
    webhook_poll_seconds: float = Field(default=5.0, gt=0, le=60)
    webhook_breaker_threshold: int = Field(default=3, ge=1, le=100)
    webhook_breaker_reset_seconds: float = Field(default=60.0, ge=0)
    webhook_max_subscriptions: int = Field(default=10, ge=1, le=100)
    # host[:port] (IPv6 in brackets) that webhooks may reach although they are not public
    # addresses: receivers in development and tests, an operator's internal system. Comma
    # separated or a JSON list. Everything else must resolve to public addresses only.
    webhook_allowed_internal_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    adapter_retry_seconds: float = Field(default=30.0, ge=0)
    adapter_certs_dir: Path = REPOSITORY_ROOT / "certs-dev"
    simulator_url: str | None = None
    # Per jobcenter key: the Standard Webhooks secret (whsec_...) of its answer callbacks.
    adapter_callback_secrets: dict[str, SecretStr] = Field(default_factory=dict)

    otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP traces endpoint; tracing export is off without it"
    )

    tls: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True

    # Shown to operators only; real deployments set it.
    secret_key: SecretStr | None = None

    @field_validator("webhook_allowed_internal_hosts", mode="before")
    @classmethod
    def _host_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else text.split(",")
        if isinstance(value, list):
            value = [str(entry).strip() for entry in value if str(entry).strip()]
            wrong = [entry for entry in value if not _HOST_PORT.match(entry)]
            if wrong:
                raise ValueError(f"not host[:port]: {', '.join(wrong)}")
        return value

    @model_validator(mode="after")
    def _refuse_development_settings_in_production(self) -> Settings:
        if self.env is not Environment.PRODUCTION:
            return self
        problems: list[str] = []
        if self.allow_client_secret_basic:
            problems.append("GATEWAY_ALLOW_CLIENT_SECRET_BASIC is for development only")
        if self.database_url is None or self.database_url.startswith("sqlite"):
            problems.append("production needs GATEWAY_DATABASE_URL pointing at PostgreSQL")
        if not self.issuer.startswith("https://"):
            problems.append("GATEWAY_ISSUER must be an https:// URL in production")
        if self.keys_dir is None:
            problems.append("GATEWAY_KEYS_DIR must name the production key directory")
        if problems:
            raise InsecureSettingError("; ".join(problems))
        return self

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gateway.db').resolve()}"

    @cached_property
    def resolved_keys_dir(self) -> Path:
        return self.keys_dir if self.keys_dir is not None else self.data_dir / "keys"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/oauth/token"

    @property
    def api_audience(self) -> str:
        """The ``aud`` of access tokens: the gateway's API (RFC 9068 section 2.2)."""
        return f"{self.issuer}/v1"
