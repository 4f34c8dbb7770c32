"""SDK configuration: every setting declared once, parsed once into a frozen :class:`Config`.

Precedence: explicit argument, then environment variable, then default.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_HOST",
    "ENV_HOST",
    "ENV_PUBLIC_KEY",
    "ENV_SECRET_KEY",
    "Config",
    "ConfigError",
    "Mask",
]

ENV_HOST = "HERON_HOST"
ENV_PUBLIC_KEY = "HERON_PUBLIC_KEY"
ENV_SECRET_KEY = "HERON_SECRET_KEY"
ENV_SAMPLE_RATE = "HERON_SAMPLE_RATE"
ENV_ENVIRONMENT = "HERON_ENVIRONMENT"
ENV_RELEASE = "HERON_RELEASE"
ENV_ENABLED = "HERON_ENABLED"

DEFAULT_HOST = "http://127.0.0.1:4376"

Mask = Callable[[Any], Any]


class ConfigError(ValueError):
    """A configuration value is invalid (raised by :func:`heron.init` only)."""


@dataclass(frozen=True, slots=True)
class Config:
    """The SDK's settings, resolved. Build with :meth:`Config.resolve`."""

    host: str = DEFAULT_HOST
    public_key: str | None = None
    secret_key: str | None = None
    enabled: bool = True
    sample_rate: float = 1.0
    environment: str | None = None
    release: str | None = None
    mask: Mask | None = None
    max_field_bytes: int = 256 * 1024  # cap of each serialised input / output / metadata value
    max_queue_size: int = 10_000  # spans waiting for export; more are dropped (and counted)
    max_batch_size: int = 512  # spans per export request
    flush_interval: float = 1.0  # seconds between background exports
    timeout: float = 10.0  # seconds per export, retries included

    @property
    def traces_endpoint(self) -> str:
        return self.host + "/v1/traces"

    @property
    def scores_endpoint(self) -> str:
        return self.host + "/api/scores"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret_key}"} if self.secret_key else {}

    @classmethod
    def resolve(cls, env: Mapping[str, str] | None = None, **args: Any) -> Config:
        """Arguments that are not ``None`` win over ``env`` (default ``os.environ``), which
        wins over the defaults. Raises :class:`ConfigError` for invalid values."""
        env = os.environ if env is None else env
        unknown = set(args) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")

        def pick(name: str, var: str | None) -> Any:
            v = args.get(name)
            if v is None and var is not None:
                v = env.get(var) or None
            return v

        host = (pick("host", ENV_HOST) or DEFAULT_HOST).strip().rstrip("/")
        if not host.startswith(("http://", "https://")):
            host = _url_from_bind_address(host, env.get("HERON_PORT"))
        rate = pick("sample_rate", ENV_SAMPLE_RATE)
        try:
            rate = 1.0 if rate is None else float(rate)
        except ValueError:
            raise ConfigError(f"sample_rate must be a number, got {rate!r}") from None
        if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
            raise ConfigError(f"sample_rate must be between 0 and 1, got {rate}")
        enabled = pick("enabled", ENV_ENABLED)
        if isinstance(enabled, str):
            enabled = enabled.strip().lower() not in ("0", "false", "no", "off")
        mask = args.get("mask")
        if mask is not None and not callable(mask):
            raise ConfigError("mask must be a callable taking one value and returning one")
        values: dict[str, Any] = {
            "host": host,
            "public_key": pick("public_key", ENV_PUBLIC_KEY),
            "secret_key": pick("secret_key", ENV_SECRET_KEY),
            "enabled": True if enabled is None else bool(enabled),
            "sample_rate": rate,
            "environment": pick("environment", ENV_ENVIRONMENT),
            "release": pick("release", ENV_RELEASE),
            "mask": mask,
        }
        for name in ("max_field_bytes", "max_queue_size", "max_batch_size"):
            v = args.get(name)
            if v is not None:
                if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                    raise ConfigError(f"{name} must be a positive integer, got {v!r}")
                values[name] = v
        for name in ("flush_interval", "timeout"):
            v = args.get(name)
            if v is not None:
                if not isinstance(v, int | float) or not v > 0:
                    raise ConfigError(f"{name} must be a positive number, got {v!r}")
                values[name] = float(v)
        return cls(**values)


def _url_from_bind_address(host: str, port: str | None) -> str:
    """``HERON_HOST`` is also the server's bind address (``0.0.0.0``, ``127.0.0.1``,
    ``myhost:4376``): read such a value as "the heron server there", so one environment can
    configure both the server and the SDK of an app beside it."""
    if not host or any(c in host for c in "/?#@ "):
        raise ConfigError(f"host must be a URL like http://127.0.0.1:4376, got {host!r}")
    name, sep, explicit_port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    if sep:
        host, port = name, explicit_port
    if host in ("0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    port = port or "4376"
    if not port.isdigit():
        raise ConfigError(f"host must be a URL like http://127.0.0.1:4376, got {host!r}")
    return f"http://{host}:{port}"
