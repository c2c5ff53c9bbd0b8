"""The plugin's settings: each one from the command line, else the ini file, else an environment variable,
else its default, read once into a frozen :class:`QueueRuntimeConfig`.

Every option is declared twice with one help text (pytest-postgresql's convention): ``--queue-x`` on the
command line and ``queue_x`` in ``[pytest]``/``[tool.pytest.ini_options]``.
The environment variable is ``PYTEST_QUEUE_X``: the plugin's own names, apart from the emulator's
``QUEUE_EMULATOR_*`` and the library's ``QUEUE_RUNTIME_*`` (a dev emulator's ``QUEUE_EMULATOR_CLOCK`` never
changes the emulators the plugin starts).
A wrong value stops the run before collection with one line that says what is allowed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pytest

__all__ = [
    "BUILTIN_PROVIDERS",
    "OPTIONS",
    "Option",
    "QueueRuntimeConfig",
    "add_options",
    "explicit_settings",
    "get_config",
    "read_config",
]

BUILTIN_PROVIDERS = ("memory", "emulator", "sqs", "sqs-fifo", "servicebus", "azure")
_FACTORY_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
_EMULATOR_MODES = ("inprocess", "subprocess", "docker")


@dataclass(frozen=True, slots=True)
class Option:
    dest: str
    help: str
    default: str
    metavar: str

    @property
    def flag(self) -> str:
        return "--" + self.dest.replace("_", "-")

    @property
    def env(self) -> str:
        return "PYTEST_" + self.dest.upper()


OPTIONS: tuple[Option, ...] = (
    Option(
        "queue_provider",
        "Provider(s) the queue fixtures talk to: memory, emulator, sqs (standard queues), sqs-fifo (FIFO queues, "
        "emulated sessions), servicebus (the azure-servicebus SDK; against the emulator unless a connection string "
        "is given), azure (a real namespace from AZURE_SERVICEBUS_CONNECTION_STRING or AZURE_SERVICEBUS_NAMESPACE; "
        "skipped when neither is set), a name registered in the "
        "'queue_runtime.providers' entry-point group, or package.module:factory. A comma-separated list runs "
        "every queue test once per provider.",
        "memory",
        "NAME[,NAME...]",
    ),
    Option(
        "queue_emulator",
        "How emulator mode reaches the emulator: 'inprocess' (start it in a background thread on a free "
        "loopback port), 'subprocess' (run the queue-emulator command as a child process), 'docker' (run the "
        "emulator's container image, see --queue-emulator-image; needs queue-runtime[containers] and a "
        "reachable Docker engine) or the http(s) URL of an emulator that is already running.",
        "inprocess",
        "inprocess|subprocess|docker|URL",
    ),
    Option(
        "queue_emulator_image",
        "Container image for --queue-emulator=docker. Empty: queue-emulator:<version>, as built by "
        "emulator/container/build.py.",
        "",
        "IMAGE",
    ),
    Option(
        "queue_emulator_clock",
        "Clock of an emulator the plugin starts: 'manual' (tests move time with queue_clock) or 'system'.",
        "manual",
        "manual|system",
    ),
    Option(
        "queue_sqs_endpoint",
        "SQS endpoint URL for --queue-provider=sqs (moto, LocalStack, ElasticMQ). Empty: start moto's "
        "ThreadedMotoServer on a free loopback port.",
        "",
        "URL",
    ),
    Option(
        "queue_sqs_region",
        "AWS region for --queue-provider=sqs.",
        "us-east-1",
        "REGION",
    ),
    Option(
        "queue_servicebus_connection_string",
        "Azure Service Bus connection string for --queue-provider=servicebus. Empty: the azure-servicebus SDK "
        "talks to the AMQP front of the emulator chosen by --queue-emulator.",
        "",
        "STRING",
    ),
    Option(
        "queue_conformance_report",
        "Write a conformance report to PATH.json and PATH.md: capabilities declared, each contract test's "
        "outcome, and mismatches (declared but failing, undeclared but passing).",
        "",
        "PATH",
    ),
)


@dataclass(frozen=True, slots=True)
class QueueRuntimeConfig:
    providers: tuple[str, ...]
    emulator: str
    emulator_image: str | None
    emulator_clock: Literal["manual", "system"]
    sqs_endpoint: str | None
    sqs_region: str
    servicebus_connection_string: str | None
    conformance_report: str | None
    sources: Mapping[str, str] = field(default_factory=dict)

    def source(self, dest: str) -> str | None:
        """Where an explicit setting came from (``--queue-x=v``, ``ini queue_x = v``, ``PYTEST_QUEUE_X=v``);
        None for a default."""
        return self.sources.get(dest)

    @property
    def emulator_url(self) -> str | None:
        """The URL of an emulator to use as it is, or None when the plugin starts one."""
        return None if self.emulator in _EMULATOR_MODES else self.emulator


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("queue_runtime", "queue_runtime: queue providers, emulator and contract suite")
    for option in OPTIONS:
        text = f"{option.help} [ini: {option.dest}; env: {option.env}; default: {option.default or 'empty'}]"
        group.addoption(option.flag, action="store", dest=option.dest, metavar=option.metavar, help=text)
        parser.addini(option.dest, text, default="")


def _raw(config: pytest.Config, option: Option) -> tuple[str, str | None]:
    """CLI, then ini, then the environment, then the default; with where an explicit value came from.

    An option given empty on the command line (``--queue-provider=``) is an explicit empty value, not "unset"."""
    cli = config.getoption(option.dest, default=None)
    if cli is not None:
        value = str(cli).strip()
        return value, f"{option.flag}={value}"
    ini = config.getini(option.dest)
    if isinstance(ini, str) and ini.strip():
        return ini.strip(), f"ini {option.dest} = {ini.strip()}"
    env = os.environ.get(option.env, "").strip()
    if env:
        return env, f"{option.env}={env}"
    return option.default, None


def explicit_settings(config: pytest.Config) -> list[str]:
    """The plugin options set on the command line or in the ini file (not the environment, not defaults)."""
    found = []
    for option in OPTIONS:
        if config.getoption(option.dest, default=None) is not None:
            found.append(option.flag)
        elif str(config.getini(option.dest) or "").strip():
            found.append(option.dest)
    return found


def _check_provider(name: str, registered: list[str]) -> None:
    if name in BUILTIN_PROVIDERS or name in registered or _FACTORY_PATH.fullmatch(name):
        return
    allowed = ", ".join(sorted({*BUILTIN_PROVIDERS, *registered}))
    raise pytest.UsageError(
        f"--queue-provider: {name!r} is not a provider; allowed: {allowed}, or package.module:factory"
    )


def read_config(config: pytest.Config) -> QueueRuntimeConfig:
    """Read and check every option. Raises ``pytest.UsageError`` (one line) for a wrong value."""
    from queue_runtime.providers import registered_names

    raw = {option.dest: _raw(config, option) for option in OPTIONS}
    values = {dest: value for dest, (value, _) in raw.items()}
    sources = {dest: where for dest, (_, where) in raw.items() if where is not None}
    parts = [p.strip() for p in values["queue_provider"].split(",") if p.strip()]
    if not parts:
        where = sources.get("queue_provider", "--queue-provider")
        raise pytest.UsageError(
            f"--queue-provider: an empty provider name ({where!r}); allowed: "
            + ", ".join(BUILTIN_PROVIDERS)
            + ", a registered name or package.module:factory"
        )
    providers = tuple(dict.fromkeys(parts))
    registered = registered_names()
    for name in providers:
        _check_provider(name, registered)
    emulator = values["queue_emulator"]
    if emulator not in _EMULATOR_MODES and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", emulator):
        raise pytest.UsageError(
            f"--queue-emulator: {emulator!r} is not allowed; "
            "use inprocess, subprocess, docker or an http(s)://host:port URL"
        )
    clock = values["queue_emulator_clock"]
    if clock not in ("manual", "system"):
        raise pytest.UsageError(f"--queue-emulator-clock: {clock!r} is not allowed; use manual or system")
    endpoint = values["queue_sqs_endpoint"] or None
    if endpoint is not None and not re.fullmatch(r"https?://\S+", endpoint):
        raise pytest.UsageError(f"--queue-sqs-endpoint: {endpoint!r} is not an http(s) URL")
    connection = values["queue_servicebus_connection_string"] or None
    return QueueRuntimeConfig(
        providers=providers,
        emulator=emulator.rstrip("/"),
        emulator_image=values["queue_emulator_image"] or None,
        emulator_clock="manual" if clock == "manual" else "system",
        sqs_endpoint=endpoint,
        sqs_region=values["queue_sqs_region"],
        servicebus_connection_string=connection,
        conformance_report=values["queue_conformance_report"] or None,
        sources=sources,
    )


_CONFIG_KEY = pytest.StashKey[QueueRuntimeConfig]()


def get_config(config: pytest.Config) -> QueueRuntimeConfig:
    """The settings of this run (read once, at configure time)."""
    found = config.stash.get(_CONFIG_KEY, None)
    if found is None:
        found = read_config(config)
        config.stash[_CONFIG_KEY] = found
    return found
