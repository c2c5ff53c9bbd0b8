"""Configuration: which provider, and how the core client retries, breaks circuits and times out.

Three ways to build a :class:`QueueConfig`: in code, from a URL-style string (:meth:`QueueConfig.from_url`), or
from environment variables (:meth:`QueueConfig.from_env`). Secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, SerializationInfo, field_serializer, model_validator
from pydantic import ValidationError as PydanticValidationError

from ._validation import plain_errors
from .errors import ConfigurationError

__all__ = [
    "AwsSqsConfig",
    "AzureServiceBusConfig",
    "CircuitBreakerPolicy",
    "EmulatorConfig",
    "InMemoryConfig",
    "PluginProviderConfig",
    "ProviderConfig",
    "QueueConfig",
    "RetryPolicy",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class RetryPolicy(BaseModel):
    """Exponential backoff with full jitter, for transient errors only.

    Attempt ``n`` (1-based) waits ``uniform(0, min(max_delay, base_delay * 2**(n-1)))`` before the next try
    (without jitter: exactly that cap). An error's ``retry_after`` wins over the computed delay.
    """

    model_config = _FROZEN

    max_attempts: int = Field(default=3, ge=1, le=100)
    base_delay: timedelta = timedelta(milliseconds=100)
    max_delay: timedelta = timedelta(seconds=10)
    jitter: bool = True

    @model_validator(mode="after")
    def _delays(self) -> RetryPolicy:
        if self.base_delay < timedelta(0) or self.max_delay < self.base_delay:
            raise ValueError("need 0 <= base_delay <= max_delay")
        return self


class CircuitBreakerPolicy(BaseModel):
    """Open after ``failure_threshold`` consecutive transient failures; try again after ``recovery_time``."""

    model_config = _FROZEN

    enabled: bool = True
    failure_threshold: int = Field(default=5, ge=1)
    recovery_time: timedelta = timedelta(seconds=30)
    half_open_max_calls: int = Field(default=1, ge=1)


class InMemoryConfig(BaseModel):
    """The broker engine in this process. ``clock="manual"`` gives tests ``client.clock.advance(...)``."""

    model_config = _FROZEN

    type: Literal["memory"] = "memory"
    clock: Literal["system", "manual"] = "system"
    max_message_size: int = Field(default=1024 * 1024, ge=1)
    max_batch_size: int = Field(default=100, ge=1)
    auto_create: bool = False
    journal_size: int = Field(default=10_000, ge=0)  # operations the journal keeps; 0 turns it off


def redact_url(url: str) -> str:
    """``url`` with the password of its user info replaced by ``***`` (for reprs, logs, errors and dumps)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


class EmulatorConfig(BaseModel):
    """A running ``queue-emulator``, reached over its REST API.

    A password in ``url`` (``http://user:secret@host:8080``) is sent as HTTP basic auth and never shown: repr, str
    and ``model_dump``/``model_dump_json`` print ``***`` instead (like ``SecretStr``); pass
    ``context={"reveal_secrets": True}`` to dump it for real."""

    model_config = _FROZEN

    type: Literal["emulator"] = "emulator"
    url: str = "http://127.0.0.1:8080"
    max_connections: int = Field(default=100, ge=1)
    request_timeout: timedelta = timedelta(seconds=60)

    @field_serializer("url")
    def _hide_password(self, url: str, info: SerializationInfo) -> str:
        context = info.context if isinstance(info.context, dict) else {}
        return url if context.get("reveal_secrets") else redact_url(url)

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "url" and isinstance(value, str) else value


class AwsSqsConfig(BaseModel):
    """Amazon SQS through aiobotocore (extra ``[sqs]``). Credentials come from the standard AWS chain unless
    given here. ``endpoint_url`` points at moto, LocalStack or ElasticMQ."""

    model_config = _FROZEN

    type: Literal["sqs"] = "sqs"
    region: str = "us-east-1"
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    use_fifo_queues: bool = False
    queue_name_prefix: str = ""
    visibility_timeout: timedelta = timedelta(seconds=30)
    wait_time: timedelta = timedelta(seconds=20)
    dead_letter_queue_suffix: str = "-dlq"
    enable_dead_letter_queue: bool = True
    max_receive_count: int = Field(default=10, ge=1, le=1000)


class AzureServiceBusConfig(BaseModel):
    """Azure Service Bus through the official ``azure-servicebus`` SDK (extra ``[servicebus]``).

    Authenticate with a ``connection_string`` (``UseDevelopmentEmulator=true`` ones point at ``queue-emulator``), or
    give the fully qualified ``namespace`` and one of: managed identity, a client secret (tenant id, client id,
    secret), or the default credential chain of ``azure-identity``. ``emulator_management_url`` is the emulator's
    REST URL (by default the connection string's host on port 8080): its ``/v1/info`` names the emulator's
    administration endpoint and CA, which queues and topics are then managed through; its REST API manages
    subscriptions, rules and the virtual clock (and everything when the emulator has no administration endpoint).
    """

    model_config = _FROZEN

    type: Literal["servicebus"] = "servicebus"
    connection_string: SecretStr | None = None
    namespace: str | None = None
    auth_method: Literal["connection_string", "managed_identity", "client_secret", "default_credential"] | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    use_sessions: bool = True
    session_timeout: timedelta = timedelta(seconds=30)
    max_message_size: int = Field(default=256 * 1024, ge=1)
    emulator_management_url: str | None = None

    @model_validator(mode="after")
    def _auth(self) -> AzureServiceBusConfig:
        method = self.resolved_auth_method
        if method == "connection_string":
            value = self.connection_string.get_secret_value() if self.connection_string else ""
            if "endpoint=" not in value.lower():
                raise ValueError("connection_string must contain Endpoint=sb://...")
        elif not self.namespace:
            raise ValueError(f"auth_method {method!r} needs namespace (e.g. 'myns.servicebus.windows.net')")
        if method == "client_secret" and not (self.tenant_id and self.client_id and self.client_secret):
            raise ValueError("auth_method 'client_secret' needs tenant_id, client_id and client_secret")
        return self

    @property
    def resolved_auth_method(self) -> str:
        if self.auth_method is not None:
            return self.auth_method
        if self.connection_string is not None:
            return "connection_string"
        if self.client_secret is not None:
            return "client_secret"
        return "default_credential"

    @property
    def uses_emulator(self) -> bool:
        value = self.connection_string.get_secret_value() if self.connection_string else ""
        return "usedevelopmentemulator=true" in value.replace(" ", "").lower()


class PluginProviderConfig(BaseModel):
    """A provider found by name: an entry point in group ``queue_runtime.providers`` or ``package.module:factory``.

    The factory is called with ``options`` as keyword arguments and returns a ``QueueProvider``.
    """

    model_config = _FROZEN

    type: Literal["plugin"] = "plugin"
    name: str
    options: dict[str, Any] = Field(default_factory=dict)


ProviderConfig = Annotated[
    InMemoryConfig | EmulatorConfig | AwsSqsConfig | AzureServiceBusConfig | PluginProviderConfig,
    Field(discriminator="type"),
]


class QueueConfig(BaseModel):
    model_config = _FROZEN

    provider: ProviderConfig = Field(default_factory=InMemoryConfig)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    circuit_breaker: CircuitBreakerPolicy = Field(default_factory=CircuitBreakerPolicy)
    default_timeout: timedelta = timedelta(seconds=30)

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> QueueConfig:
        """``memory://`` (``?clock=manual``), ``emulator://host:port``, ``plugin://package.module:factory``."""
        parts = urlsplit(url)
        query = {key: _number_or_text(value) for key, value in parse_qsl(parts.query)}
        scheme = parts.scheme.lower()
        provider: BaseModel
        try:
            if scheme == "memory":
                provider = InMemoryConfig.model_validate(query)
            elif scheme in ("emulator", "emulator+http", "emulator+https"):
                transport = "https" if scheme.endswith("https") else "http"
                if not parts.netloc:
                    raise ConfigurationError("an emulator URL needs host:port, e.g. emulator://127.0.0.1:8080")
                provider = EmulatorConfig(url=f"{transport}://{parts.netloc}{parts.path.rstrip('/')}", **query)
            elif scheme == "sqs":
                # sqs://us-east-1?endpoint_url=http://127.0.0.1:5000&use_fifo_queues=true
                provider = AwsSqsConfig(region=parts.netloc or "us-east-1", **query)
            elif scheme == "servicebus":
                # servicebus://myns.servicebus.windows.net (credentials from azure-identity's default chain)
                provider = AzureServiceBusConfig(namespace=parts.netloc, **query)
            elif scheme == "plugin":
                provider = PluginProviderConfig(name=parts.netloc + parts.path, options=query)
            else:
                raise ConfigurationError(
                    f"unknown provider URL scheme {scheme!r}; use memory://, emulator://host:port, "
                    "sqs://region, servicebus://namespace or plugin://package.module:factory"
                )
            return cls.model_validate({"provider": provider, **overrides})
        except PydanticValidationError as exc:
            raise ConfigurationError(f"invalid queue URL settings: {_summary(exc)}") from exc

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, prefix: str = "QUEUE_RUNTIME_") -> QueueConfig:
        """Read ``{prefix}URL`` (default ``memory://``) plus optional ``RETRY_MAX_ATTEMPTS``, ``RETRY_BASE_DELAY``,
        ``RETRY_MAX_DELAY`` (seconds), ``RETRY_JITTER``, ``CIRCUIT_FAILURE_THRESHOLD``,
        ``CIRCUIT_RECOVERY_TIME`` (seconds), ``TIMEOUT`` (seconds)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return env.get(prefix + name)

        retry: dict[str, Any] = {}
        breaker: dict[str, Any] = {}
        overrides: dict[str, Any] = {}
        for key, target, field in (
            ("RETRY_MAX_ATTEMPTS", retry, "max_attempts"),
            ("RETRY_BASE_DELAY", retry, "base_delay"),
            ("RETRY_MAX_DELAY", retry, "max_delay"),
            ("RETRY_JITTER", retry, "jitter"),
            ("CIRCUIT_FAILURE_THRESHOLD", breaker, "failure_threshold"),
            ("CIRCUIT_RECOVERY_TIME", breaker, "recovery_time"),
            ("TIMEOUT", overrides, "default_timeout"),
        ):
            value = get(key)
            if value is not None:
                target[field] = _number_or_text(value)
        if retry:
            overrides["retry"] = retry
        if breaker:
            overrides["circuit_breaker"] = breaker
        variables = {
            ("retry", "max_attempts"): "RETRY_MAX_ATTEMPTS",
            ("retry", "base_delay"): "RETRY_BASE_DELAY",
            ("retry", "max_delay"): "RETRY_MAX_DELAY",
            ("retry", "jitter"): "RETRY_JITTER",
            ("circuit_breaker", "failure_threshold"): "CIRCUIT_FAILURE_THRESHOLD",
            ("circuit_breaker", "recovery_time"): "CIRCUIT_RECOVERY_TIME",
            ("default_timeout",): "TIMEOUT",
        }

        def variable(loc: tuple[Any, ...]) -> str:
            for path, key in variables.items():
                if loc[: len(path)] == path:
                    return f"{prefix}{key}={get(key)!r}"
            return f"{prefix}URL"  # everything else comes from the URL

        try:
            return cls.from_url(get("URL") or "memory://", **overrides)
        except ConfigurationError as exc:
            if isinstance(exc.__cause__, PydanticValidationError):
                raise ConfigurationError(f"invalid environment: {plain_errors(exc.__cause__, variable)}") from exc
            raise
        except PydanticValidationError as exc:
            raise ConfigurationError(f"invalid environment: {plain_errors(exc, variable)}") from exc


def _number_or_text(value: str) -> Any:
    """Text settings (URL queries, environment variables) give durations as seconds: "0.5" means half a second."""
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def _summary(exc: PydanticValidationError) -> str:
    # pydantic's own text can echo input values; name the fields and the problem only.
    return plain_errors(exc)
