"""A local certificate authority for the emulator's TLS endpoints, generated at start with ``trustme``.

    authority = LocalCertificateAuthority()           # a fresh CA, in memory
    context = authority.server_context()              # ssl.SSLContext for 127.0.0.1 / localhost / ::1
    path = authority.write_ca(directory)              # ca.pem, what clients trust (``connection_verify=path``)

Nothing is read from or written to the user's trust stores: clients are pointed at the CA file explicitly.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme

__all__ = ["CA_FILE_NAME", "LocalCertificateAuthority"]

CA_FILE_NAME = "ca.pem"
_LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")


class LocalCertificateAuthority:
    """One CA per emulator process; it signs one server certificate for the loopback names (plus ``hosts``)."""

    def __init__(self, hosts: tuple[str, ...] = ()) -> None:
        self._ca = trustme.CA(organization_name="queue-emulator local CA")
        names = list(dict.fromkeys((*_LOCAL_NAMES, *hosts)))
        self._server = self._ca.issue_cert(*names)

    def __repr__(self) -> str:
        return "LocalCertificateAuthority()"

    @property
    def ca_pem(self) -> bytes:
        return self._ca.cert_pem.bytes()

    def write_ca(self, directory: Path) -> Path:
        """Write the CA certificate (PEM) as ``directory/ca.pem`` and return its path."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / CA_FILE_NAME
        path.write_bytes(self.ca_pem)
        return path

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting the issued certificate (TLS 1.2 or newer)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._server.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client-side context trusting only this CA (for tests and tools)."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self._ca.configure_trust(context)
        return context
