"""The emulator's settings: CLI flags first, then ``QUEUE_EMULATOR_*`` environment variables, then defaults."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

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
    max_message_size: int = Field(default=1024 * 1024, ge=1, description="bytes: body plus property names/values")
    max_request_size: int = Field(default=16 * 1024 * 1024, ge=1024, description="bytes of one HTTP request body")
    max_batch_size: int = Field(default=1000, ge=1, description="messages per send/receive/settle request")
    max_queues: int = Field(default=100_000, ge=1, description="queues the emulator will hold")
    log_level: LogLevel = Field(default="info", description="logging level")
    amqp: bool = Field(default=True, description="serve the Azure Service Bus AMQP 1.0 front")
    amqp_port: int = Field(default=5672, ge=0, le=65535, description="AMQP 1.0 port; 0 picks a free one")
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
                values[name] = env.lower() if name in ("clock", "log_level") else env
        return cls.model_validate(values)

    def servicebus_connection_string(self, amqp_port: int) -> str:
        """What the azure-servicebus SDK connects with. A configured key is never shown: its place says so."""
        key = "<your --sas-key>" if self.sas_key is not None else "any-key-works"
        return (
            f"Endpoint=sb://{self.host}:{amqp_port};SharedAccessKeyName={self.sas_key_name};SharedAccessKey={key};"
            "UseDevelopmentEmulator=true"
        )

    def env_name(self, field: str) -> str:
        return ENV_PREFIX + field.upper()
