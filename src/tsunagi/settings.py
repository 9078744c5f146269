"""Settings, read from ``TSUNAGI_*`` environment variables and an optional TOML file.

Nothing is built at import time: callers create a :class:`Settings` and pass it
down (the app factory, the CLI). Production mode refuses default secrets.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "dev-only-secret-key-change-me-in-production"  # noqa: S105 - marker, refused in production


class ConfigurationError(Exception):
    """Settings that must not be used; the message says what to set."""


class Settings(BaseSettings):
    """Every setting Tsunagi reads. Environment variables are ``TSUNAGI_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="TSUNAGI_", extra="forbid")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str = DEFAULT_SECRET_KEY
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    default_locale: Literal["en", "ja"] = "ja"
    timezone: str = "Asia/Tokyo"
    session_max_age_s: int = Field(default=12 * 3600, ge=60)
    login_attempts_per_window: int = Field(default=5, ge=1)
    login_window_s: int = Field(default=60, ge=1)
    # Requests per minute from one address to one public endpoint family (widget,
    # booking, webhooks); more get 429 with Retry-After.
    public_requests_per_minute: int = Field(default=120, ge=1)
    # Largest file a chat visitor or a communicator may attach.
    chat_attachment_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    # One address may try this many times the per-account limit (a floor behind one NAT).
    login_ip_multiplier: int = Field(default=40, ge=1)
    password_time_cost: int = Field(default=2, ge=1)
    password_memory_kib: int = Field(default=19 * 1024, ge=8)
    # Call recordings are deleted after this many days unless the tenant sets its own.
    recording_retention_days: int = Field(default=365, ge=1, le=3650)
    # The SIP-over-WebSocket edge the desk's browser softphone registers at (kamailio,
    # `tsunagi voice serve --softphone-port`): ws://host:port, or wss:// behind the TLS
    # proxy. No softphone on the desk when unset.
    voice_softphone_ws_url: str | None = None
    # Where desk phones register (kamailio's SIP edge over UDP, `tsunagi voice serve
    # --edge-port`): host:port as a phone is configured with. The desk shows each
    # communicator their phone settings and password only when set.
    voice_edge_sip: str | None = None
    relay_poll_interval_s: float = Field(default=0.25, gt=0)
    # Where the figures projector folds events into the figures tables (decision 0012):
    # "child", a process of its own that the app starts, keeps running and stops (on
    # another core than the requests); "in-process", a task on the app's event loop.
    # `tsunagi serve` and `tsunagi demo` take "child" unless this is set.
    figures_projector: Literal["child", "in-process"] = "in-process"
    secure_cookies: bool = False
    # Tracebacks in error pages: for developers only, never in production.
    debug: bool = False
    # Personal data is sealed with per-tenant keys wrapped by this master key (base64 of
    # 32 bytes), or the key in master_key_file (default: <data_dir>/keys/master.key).
    master_key: str | None = None
    master_key_file: Path | None = None

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str | None) -> str | None:
        if value is None or value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            return value
        msg = "TSUNAGI_DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
        raise ValueError(msg)

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tsunagi.db').resolve()}"

    @property
    def effective_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "keys" / "master.key"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    def check_production(self) -> None:
        """Refuse to run in production with development defaults."""
        if self.env != "production":
            return
        problems = []
        if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
            problems.append("set TSUNAGI_SECRET_KEY to a random value of at least 32 characters")
        if not self.secure_cookies:
            problems.append("set TSUNAGI_SECURE_COOKIES=true (serve over HTTPS)")
        if not self.master_key and not self.effective_master_key_file.exists():
            problems.append(
                "set TSUNAGI_MASTER_KEY or create the key file "
                f"{self.effective_master_key_file} (tsunagi keys init)"
            )
        if problems:
            raise ConfigurationError("Refusing to start in production mode: " + "; ".join(problems))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from a TOML file (optional), then the environment, then ``overrides``.

    The environment wins over the file so that deployments can override single values.
    """
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            file_values = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigurationError(f"config file not found: {config_file}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"config file {config_file} is not valid TOML: {exc}") from exc
    env_settings = Settings(**overrides)
    explicitly_set = env_settings.model_fields_set
    merged = {**file_values, **{k: getattr(env_settings, k) for k in explicitly_set}}
    return Settings(**merged)
