"""Where each front listens, for the fronts that report the others (``/v1/info``, the dashboard, the CLI banner).

The process fills it in as it starts each front; a front reads it and never imports another front.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Endpoints"]


@dataclass(slots=True)
class Endpoints:
    amqp_port: int | None = None
    """The AMQP (Service Bus) front's bound port; ``None`` while it is off or not started yet."""
    amqps_port: int | None = None
    """The AMQP front's TLS (``amqps``) port; ``None`` unless ``--amqps``."""
    amqp_websocket_port: int | None = None
    """The AMQP-over-WebSocket listener's port; ``None`` unless ``--amqp-websocket``."""
    ca_path: Path | None = None
    """The generated CA bundle that signs the emulator's TLS certificates (amqps, the administration endpoint's
    HTTPS); ``None`` without TLS."""
    admin_port: int | None = None
    """The administration endpoint's plain-HTTP port; ``None`` while it is off or not started yet."""
    admin_tls_port: int | None = None
    """The administration endpoint's HTTPS port."""
