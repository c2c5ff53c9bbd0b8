"""TLS for the emulator's listeners: a certificate authority and a server certificate generated at start.

Built with ``trustme``: nothing is read from or written to the system trust store. The CA bundle is written to a
file whose path the emulator prints, so clients can trust it (``connection_verify=<path>`` for azure-servicebus,
``SSL_CERT_FILE`` or ``--cacert`` elsewhere). Any front may share one :class:`TlsMaterial` (today the AMQP front's
``amqps`` listener; the administration endpoint can use the same later).
"""

from __future__ import annotations

import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from queue_runtime.errors import ConfigurationError

__all__ = ["TlsMaterial", "generate_tls"]

CA_FILE = "queue-emulator-ca.pem"
CERT_FILE = "queue-emulator-cert.pem"
KEY_FILE = "queue-emulator-key.pem"


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """Where the generated CA bundle, certificate chain and private key live."""

    ca_path: Path
    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the generated CA (tests, tools)."""
        return ssl.create_default_context(cafile=str(self.ca_path))


def _identities(host: str) -> list[str]:
    names = ["localhost", "127.0.0.1", "::1"]
    if host not in ("", "0.0.0.0", "::") and host not in names:
        names.append(host)
    out = []
    for name in names:
        try:
            out.append(str(ipaddress.ip_address(name)))
        except ValueError:
            out.append(name)
    return out


def generate_tls(directory: Path | None = None, *, host: str = "127.0.0.1") -> TlsMaterial:
    """A fresh CA and a server certificate for loopback (and ``host``), written under ``directory`` (a new
    temporary directory by default). The key file is readable by its owner only."""
    try:
        import trustme  # the emulator extra; imported here so the process starts without it when TLS is off
    except ImportError as exc:
        raise ConfigurationError(
            "--amqps needs the trustme package: pip install \"queue-runtime[emulator]\" (or pip install trustme)"
        ) from exc

    target = Path(tempfile.mkdtemp(prefix="queue-emulator-tls-")) if directory is None else directory
    target.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="queue-emulator (local testing only)")
    leaf = ca.issue_cert(*_identities(host), common_name="queue-emulator")
    material = TlsMaterial(target / CA_FILE, target / CERT_FILE, target / KEY_FILE)
    ca.cert_pem.write_to_path(str(material.ca_path))
    material.cert_path.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    material.key_path.touch(mode=0o600)
    leaf.private_key_pem.write_to_path(str(material.key_path))
    return material
