"""The emulator's container image as a testcontainers module (``pip install "queue-runtime[containers]"``).

    from queue_emulator.containers import QueueEmulatorContainer

    with QueueEmulatorContainer().with_manual_clock().with_auto_create() as emulator:
        emulator.get_http_url()            # http://localhost:49153 (REST API, dashboard, control endpoints)
        emulator.get_connection_string()   # Endpoint=sb://localhost:49154;...;UseDevelopmentEmulator=true

It follows testcontainers' conventions: a ``DockerContainer`` subclass, ``with_*`` builders that return the
container, ``start()`` that waits until the emulator answers and returns ``self``, and getters for what a client
needs. This module imports only testcontainers and the emulator's settings model (no aiohttp), so a test suite
that runs the emulator in a container does not install the emulator's server dependencies.

The image is built locally by ``python emulator/container/build.py`` (see docs/containers.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from testcontainers.core.container import DockerContainer
from testcontainers.core.exceptions import ContainerStartException
from testcontainers.core.wait_strategies import CompositeWaitStrategy, HttpWaitStrategy, LogMessageWaitStrategy

from . import __version__
from .settings import ENV_PREFIX, EmulatorSettings

__all__ = [
    "ADMIN_PORT", "ADMIN_TLS_PORT", "AMQP_PORT", "CA_PATH", "DATA_DIR", "DEFAULT_IMAGE", "HTTP_PORT", "READY_LINE",
    "QueueEmulatorContainer",
]

DEFAULT_IMAGE = f"queue-emulator:{__version__}"
HTTP_PORT = 8080
AMQP_PORT = 5672
ADMIN_PORT = 5300
ADMIN_TLS_PORT = 5301
CA_PATH = "/tmp/queue-emulator-tls/queue-emulator-ca.pem"  # in the container (QUEUE_EMULATOR_TLS_DIR of the image)
DATA_DIR = "/data"  # in the container: where with_data_volume() mounts its volume (owned by the image's user)
# The CLI's first line once both fronts listen (cli.py); the image's own readiness signal.
READY_LINE = "queue-emulator listening on "
_ENTITY_DIR = "/etc/queue-emulator"
# Fixed by the image: changing them would break the port mapping.
_FIXED = frozenset({"host", "port", "amqp_port", "admin_port", "admin_tls_port", "tls_dir"})


class QueueEmulatorContainer(DockerContainer):
    """The queue emulator (REST + Azure Service Bus AMQP 1.0) in a container.

    Every emulator setting is an environment variable of the image (``QUEUE_EMULATOR_<SETTING>``, as for the
    CLI); the ``with_*`` builders set them. ``startup_timeout`` bounds the wait in ``start()``.
    """

    def __init__(self, image: str = DEFAULT_IMAGE, *, startup_timeout: float = 30.0, **kwargs: Any) -> None:
        super().__init__(image, **kwargs)
        self.startup_timeout = startup_timeout
        self._labels: dict[str, str] = {}
        self._sas_key: str | None = None
        self._sas_key_name = EmulatorSettings.model_fields["sas_key_name"].default
        self.with_exposed_ports(HTTP_PORT, AMQP_PORT, ADMIN_PORT, ADMIN_TLS_PORT)

    def __repr__(self) -> str:
        state = self._container.short_id if self._container is not None else "not started"
        return f"QueueEmulatorContainer(image={self.image!r}, {state})"

    # --- builders -------------------------------------------------------------------------------------------

    def with_setting(self, name: str, value: str | int | bool) -> Self:
        """Any emulator setting by its name in ``EmulatorSettings`` (``max_queues``, ``log_level``, ...)."""
        if name not in EmulatorSettings.model_fields:
            allowed = ", ".join(sorted(set(EmulatorSettings.model_fields) - _FIXED))
            raise ValueError(f"{name!r} is not an emulator setting; allowed: {allowed}")
        if name in _FIXED:
            raise ValueError(f"{name!r} is fixed by the image (HTTP {HTTP_PORT}, AMQP {AMQP_PORT} on all interfaces)")
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return self.with_env(ENV_PREFIX + name.upper(), text)

    def with_manual_clock(self, manual: bool = True) -> Self:
        """Freeze the emulator's time until ``POST /v1/_control/clock/advance`` (the ``queue_clock`` fixture)."""
        return self.with_setting("clock", "manual" if manual else "system")

    def with_auto_create(self, enabled: bool = True) -> Self:
        """Create a queue on first use instead of answering 404."""
        return self.with_setting("auto_create", enabled)

    def with_entity_file(self, path: str | Path) -> Self:
        """Queues to create at start (and after each reset), from a YAML or JSON file on this machine. The file
        is copied into the container, so this works with a remote Docker engine too."""
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"entity file {str(source)!r} does not exist")
        suffix = ".json" if source.suffix.lower() == ".json" else ".yaml"
        return self._with_entity_bytes(source.read_bytes(), suffix)

    def with_entities(self, entities: Mapping[str, Any]) -> Self:
        """Queues to create at start, given as the entity file's content (``{"queues": {"orders": {...}}}``)."""
        return self._with_entity_bytes(json.dumps(entities).encode(), ".json")

    def _with_entity_bytes(self, content: bytes, suffix: str) -> Self:
        destination = f"{_ENTITY_DIR}/entities{suffix}"
        self.with_copy_into_container(content, destination, 0o644)
        return self.with_setting("entity_file", destination)

    def with_data_volume(self, volume: str) -> Self:
        """Keep entities and messages in ``volume`` (a named Docker volume, made on first use, or an absolute host
        path the container's user 10001 may write): a new container on the same volume finds them again, after a
        ``docker stop`` or a ``docker kill``. See docs/persistence.md."""
        self.with_volume_mapping(volume, DATA_DIR, "rw")
        return self.with_setting("data_dir", DATA_DIR)

    def with_sas_key(self, key: str, *, key_name: str | None = None) -> Self:
        """Require tokens signed with ``key`` on the AMQP front; the connection strings then carry it."""
        self._sas_key = key
        self.with_env(ENV_PREFIX + "SAS_KEY", key)
        if key_name is not None:
            self._sas_key_name = key_name
            self.with_setting("sas_key_name", key_name)
        return self

    def with_labels(self, **labels: str) -> Self:
        """Docker labels on the container (to find it with ``docker ps --filter label=...``)."""
        self._labels.update(labels)
        return self

    # --- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Create and start the container, then wait until the emulator printed its readiness line and answers
        ``GET /health`` through the mapped port. If it does not, the container is removed and
        ``ContainerStartException`` says why, with the emulator's last output."""
        self._kwargs = {**self._kwargs, "labels": {**self._kwargs.get("labels", {}), **self._labels}}
        # The emulator serves only Host names it knows (DNS-rebinding protection): the network aliases other
        # containers use are added here, unless the caller set the allowed hosts itself.
        aliases = [str(alias) for alias in (self._network_aliases or [])]
        if aliases and "QUEUE_EMULATOR_ALLOWED_HOSTS" not in self.env:
            self.with_env("QUEUE_EMULATOR_ALLOWED_HOSTS", ",".join(aliases))
        strategy = CompositeWaitStrategy(
            LogMessageWaitStrategy(READY_LINE), HttpWaitStrategy(HTTP_PORT, "/health").for_status_code(200)
        )
        # testcontainers polls once a second by default; the emulator is ready in well under one.
        self.waiting_for(strategy.with_startup_timeout(int(max(1, self.startup_timeout))).with_poll_interval(0.05))
        try:
            super().start()
        except Exception as exc:
            output, exit_code = self._output_tail(), self._exit_code()
            self.stop()
            why = f"exited with code {exit_code} before it was ready" if exit_code is not None else (
                f"did not become ready: {exc}")
            raise ContainerStartException(
                f"the queue emulator container ({self.image}) {why}"
                + (f"; its output ends with: {output}" if output else "")
            ) from exc
        return self

    def _exit_code(self) -> int | None:
        if self._container is None:
            return None
        try:
            self._container.reload()
            state = self._container.attrs.get("State", {})
        except Exception:  # the container may already be gone
            return None
        return None if state.get("Running", True) else int(state.get("ExitCode", -1))

    def _output_tail(self, lines: int = 10) -> str:
        if self._container is None:
            return ""
        try:
            text = self._container.logs(tail=lines).decode(errors="replace")
        except Exception:  # the container may already be gone
            return ""
        return " | ".join(line.strip() for line in text.splitlines() if line.strip())

    # --- getters --------------------------------------------------------------------------------------------

    def get_http_url(self) -> str:
        """The REST API, dashboard and control endpoints, from this machine."""
        return f"http://{self.get_container_host_ip()}:{self.get_exposed_port(HTTP_PORT)}"

    def get_amqp_port(self) -> int:
        """The host port mapped to the AMQP 1.0 front."""
        return int(self.get_exposed_port(AMQP_PORT))

    def get_connection_string(self) -> str:
        """The azure-servicebus connection string for the mapped AMQP port, from this machine."""
        return self._connection_string(self.get_container_host_ip(), self.get_amqp_port())

    def get_admin_connection_string(self) -> str:
        """What ``ServiceBusAdministrationClient.from_connection_string`` takes from this machine: the SDK speaks
        HTTPS to the Endpoint's host and port, so it names the mapped administration TLS port. Pass
        ``connection_verify=`` the path :meth:`write_ca_certificate` returns."""
        return self._connection_string(self.get_container_host_ip(), int(self.get_exposed_port(ADMIN_TLS_PORT)))

    def get_admin_http_url(self) -> str:
        """The administration endpoint over plain HTTP (clients with ``UseDevelopmentEmulator=true`` and HTTP)."""
        return f"http://{self.get_container_host_ip()}:{self.get_exposed_port(ADMIN_PORT)}"

    def get_ca_certificate(self) -> bytes:
        """The PEM of the CA the emulator generated at start; it signs the administration endpoint's certificate
        (valid for ``localhost`` and ``127.0.0.1``, which is how this machine reaches the mapped port)."""
        code, output = self.get_wrapped_container().exec_run(["cat", CA_PATH])
        if code != 0 or not output.startswith(b"-----BEGIN CERTIFICATE"):
            raise ContainerStartException(f"the emulator has no CA bundle at {CA_PATH}: {output[-200:]!r}")
        return bytes(output)

    def write_ca_certificate(self, path: str | Path) -> Path:
        """Write :meth:`get_ca_certificate` to ``path`` (for ``connection_verify=``) and return it."""
        target = Path(path)
        target.write_bytes(self.get_ca_certificate())
        return target

    def get_network_alias(self) -> str:
        """The name other containers on the same network reach this one by: its first network alias, else the
        container's name (Docker resolves both on user-defined networks)."""
        if self._network is None:
            raise ContainerStartException("the emulator container is on no network: call with_network(...) first")
        if self._network_aliases:
            return str(self._network_aliases[0])
        return str(self.get_wrapped_container().name)

    def get_network_http_url(self) -> str:
        """The REST API for another container on the same network."""
        return f"http://{self.get_network_alias()}:{HTTP_PORT}"

    def get_network_connection_string(self) -> str:
        """The azure-servicebus connection string for another container on the same network."""
        return self._connection_string(self.get_network_alias(), AMQP_PORT)

    def _connection_string(self, host: str, port: int) -> str:
        key = self._sas_key if self._sas_key is not None else "any-key-works"
        return (
            f"Endpoint=sb://{host}:{port};SharedAccessKeyName={self._sas_key_name};SharedAccessKey={key};"
            "UseDevelopmentEmulator=true"
        )
