"""The ``$cbs`` node: put-token requests carrying Shared Access Signature tokens.

The token check itself is the process's :class:`queue_emulator.sas.SasVerifier` (the administration endpoint uses
the same one); it is re-exported here for existing imports.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...sas import SasVerifier
from ..protocol.message import AmqpMessage
from ..protocol.performatives import Properties

__all__ = ["CbsNode", "SasVerifier"]


@dataclass(frozen=True, slots=True)
class CbsNode:
    verifier: SasVerifier

    def handle(self, request: AmqpMessage) -> AmqpMessage:
        """Answer one put-token request."""
        props = request.application_properties or {}
        message_id = request.properties.message_id if request.properties else None
        operation = props.get("operation")
        token = request.value
        if isinstance(token, bytes):
            token = token.decode("utf-8", "replace")
        if operation != "put-token":
            status, description = 400, f"unsupported $cbs operation {operation!r}"
        elif not isinstance(token, str):
            status, description = 400, "the put-token body must be the token string"
        else:
            problem = self.verifier.check(token)
            status, description = (202, "Accepted") if problem is None else (401, problem)
        return AmqpMessage(
            properties=Properties(correlation_id=message_id),
            application_properties={"status-code": status, "status-description": description},
        )
