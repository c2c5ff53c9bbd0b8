"""Shared Access Signature tokens, checked the same way by every front that receives them (the AMQP front's
``$cbs`` node, the administration endpoint's ``Authorization`` header).

Without a key every token is accepted (a local emulator has nothing to protect). With a key the token's
HMAC-SHA256 signature over ``quote_plus(sr) + "\\n" + se``, its key name and its expiry are checked, as Azure does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote_plus

__all__ = ["SasVerifier"]


@dataclass(frozen=True, slots=True)
class SasVerifier:
    key_name: str | None = None
    key: str | None = field(default=None, repr=False)
    now: Callable[[], float] = field(default=time.time, repr=False)

    @property
    def enforced(self) -> bool:
        return self.key is not None

    def check(self, token: str) -> str | None:
        """None when the token is acceptable, else why it is not (never echoing the key or the signature)."""
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
