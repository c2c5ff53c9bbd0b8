"""The ``$cbs`` node: put-token requests carrying Shared Access Signature tokens.

Without a key every token is accepted (a local emulator has nothing to protect). With a key the token's
HMAC-SHA256 signature over ``quote_plus(sr) + "\\n" + se`` and its expiry are checked, as Azure does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote_plus

from ..protocol.message import AmqpMessage
from ..protocol.performatives import Properties

__all__ = ["CbsNode", "SasVerifier"]


@dataclass(frozen=True, slots=True)
class SasVerifier:
    key_name: str | None = None
    key: str | None = None
    now: Callable[[], float] = field(default=time.time)

    def check(self, token: str) -> str | None:
        """None when the token is acceptable, else why it is not."""
        if self.key is None:
            return None
        prefix = "SharedAccessSignature "
        if not token.startswith(prefix):
            return "the token is not a SharedAccessSignature"
        fields = {name: values[0] for name, values in parse_qs(token[len(prefix):], keep_blank_values=True).items()}
        resource, signature, expiry, key_name = (fields.get(k) for k in ("sr", "sig", "se", "skn"))
        if resource is None or signature is None or expiry is None:
            return "the token lacks sr, sig or se"
        if self.key_name is not None and key_name != self.key_name:
            return f"unknown shared access key name {key_name!r}"
        try:
            expires_at = int(expiry)
        except ValueError:
            return "the token's expiry is not a number"
        to_sign = f"{quote_plus(resource)}\n{expires_at}".encode()
        expected = base64.b64encode(hmac.new(self.key.encode(), to_sign, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, signature):
            return "the token's signature does not match the shared access key"
        if expires_at < self.now():
            return "the token has expired"
        return None


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
