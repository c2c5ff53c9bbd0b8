"""The emulator's settings: CLI flags first, then ``QUEUE_EMULATOR_*`` environment variables, then defaults."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from queue_runtime.errors import ConfigurationError

__all__ = ["ENV_PREFIX", "EmulatorSettings"]

ENV_PREFIX = "QUEUE_EMULATOR_"

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class EmulatorSettings(BaseModel):
    """Everything a ``queue-emulator`` process is started with. Limits are settings, not constants: a parallel
    test suite needs many queues and big batches."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(default="127.0.0.1", description="address to bind (loopback by default)")
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port; 0 picks a free one and prints it")
    clock: Literal["system", "manual"] = Field(
        default="system", description="'manual' freezes time until POST /v1/_control/clock/advance"
    )
    auto_create: bool = Field(default=False, description="create a queue on first use instead of answering 404")
    entity_file: Path | None = Field(default=None, description="YAML or JSON file of queues to create at start")
    max_message_size: int = Field(
        default=256 * 1024, ge=1, le=100 * 1024 * 1024,
        description="bytes of one message (Service Bus Standard: 262144; Premium allows up to 100 MB)",
    )
    max_request_size: int = Field(default=16 * 1024 * 1024, ge=1024, description="bytes of one HTTP request body")
    max_batch_size: int = Field(default=1000, ge=1, description="messages per send/receive/settle request")
    max_queues: int = Field(default=100_000, ge=1, description="queues the emulator will hold")
    data_dir: Path | None = Field(
        default=None,
        description="keep entities and messages in this directory (SQLite, WAL mode) across restarts and crashes; "
                    "unset keeps everything in memory",
    )
    data_sync: Literal["normal", "full"] = Field(
        default="normal",
        description="'normal' survives a killed process; 'full' also fsyncs each operation to survive power loss",
    )
    journal_size: int = Field(default=10_000, ge=0, description="operations the journal keeps (0 turns it off)")
    log_level: LogLevel = Field(default="info", description="logging level")
    amqp: bool = Field(default=True, description="serve the Azure Service Bus AMQP 1.0 front")
    amqp_port: int = Field(default=5672, ge=0, le=65535, description="AMQP 1.0 port; 0 picks a free one")
    admin: bool = Field(default=True, description="serve the Service Bus administration endpoint (Atom XML)")
    admin_port: int = Field(
        default=5300, ge=0, le=65535, description="administration endpoint, plain HTTP (.NET UseDevelopmentEmulator)"
    )
    admin_tls_port: int = Field(
        default=5301, ge=0, le=65535, description="administration endpoint, HTTPS (the Python SDK always uses TLS)"
    )
    amqp_websocket: bool = Field(
        default=False, description="also serve AMQP over WebSockets (ws://HOST:PORT/$servicebus/websocket)"
    )
    amqp_websocket_port: int = Field(default=5673, ge=0, le=65535, description="AMQP-over-WebSocket port; 0 picks one")
    amqps: bool = Field(default=False, description="also serve AMQP over TLS (amqps), with a generated certificate")
    amqps_port: int = Field(default=5671, ge=0, le=65535, description="amqps port; 0 picks a free one")
    tls_dir: Path | None = Field(
        default=None,
        description="where the generated CA bundle, certificate and key go (a new temp dir, removed at stop, if unset)",
    )
    allowed_origins: str = Field(
        default="",
        description="comma-separated browser origins (scheme://host:port) allowed to call the REST API besides "
                    "the dashboard's own; '*' allows any",
    )
    allowed_hosts: str = Field(
        default="",
        description="comma-separated Host names served besides the bound address, IP addresses and loopback "
                    "names (DNS rebinding protection); '*' allows any",
    )
    sas_key_name: str = Field(default="RootManageSharedAccessKey", description="SAS key name the AMQP front expects")
    sas_key: SecretStr | None = Field(
        default=None, description="SAS key: when set, tokens must be signed with it; unset accepts any token"
    )
    sas_key_file: Path | None = Field(
        default=None, description="file holding the SAS key (keeps it out of the process list)"
    )
    sas_rules: tuple[SecretStr, ...] = Field(
        default=(), description="authorization rules NAME:RIGHTS:KEY (rights Listen,Send,Manage); env: ';'-separated"
    )

    @field_validator("sas_rules", mode="before")
    @classmethod
    def _split_rules(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(";") if part.strip())
        return value

    def sas_key_value(self) -> str | None:
        """The key from ``sas_key`` or, failing that, from ``sas_key_file`` (its first line, stripped)."""
        if self.sas_key is not None:
            return self.sas_key.get_secret_value()
        if self.sas_key_file is None:
            return None
        try:
            text = self.sas_key_file.read_text(encoding="utf-8")
        except OSError as exc:
            where = str(self.sas_key_file)
            raise ConfigurationError(f"cannot read the SAS key file {where!r}: {exc.strerror}") from exc
        key = text.strip().splitlines()[0].strip() if text.strip() else ""
        if not key:
            raise ConfigurationError(f"the SAS key file {str(self.sas_key_file)!r} is empty")
        return key

    @property
    def secured(self) -> bool:
        return self.sas_key is not None or self.sas_key_file is not None or bool(self.sas_rules)

    @classmethod
    def resolve(cls, flags: Mapping[str, Any], environ: Mapping[str, str]) -> EmulatorSettings:
        """Each field from ``flags`` (None means not given), else ``QUEUE_EMULATOR_<FIELD>``, else the default.

        Raises pydantic's ``ValidationError`` for values that do not fit (the CLI turns it into a usage error).
        """
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            flag = flags.get(name)
            if flag is not None:
                values[name] = flag
                continue
            env = environ.get(ENV_PREFIX + name.upper())
            if env is not None and env != "":
                values[name] = env.lower() if name in ("clock", "log_level", "data_sync") else env
        return cls.model_validate(values)

    def servicebus_connection_string(self, amqp_port: int) -> str:
        """What the azure-servicebus SDK connects with. A configured key is never shown: its place says so."""
        key = "<your SAS key>" if self.secured else "any-key-works"
        return (
            f"Endpoint=sb://{self.host}:{amqp_port};SharedAccessKeyName={self.sas_key_name};SharedAccessKey={key};"
            "UseDevelopmentEmulator=true"
        )

    def servicebus_admin_connection_string(self, admin_tls_port: int) -> str:
        """What ``ServiceBusAdministrationClient.from_connection_string`` takes: the SDK always speaks HTTPS to
        the Endpoint's host:port, so the Endpoint names the administration endpoint's TLS port."""
        return self.servicebus_connection_string(admin_tls_port)

    def env_name(self, field: str) -> str:
        return ENV_PREFIX + field.upper()
