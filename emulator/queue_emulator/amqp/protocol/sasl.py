"""SASL for the emulator: ANONYMOUS always, PLAIN checked against the shared access key when one is set.

With ANONYMOUS the real authentication happens later, through a SAS token put on the ``$cbs`` node.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from .performatives import SaslCode, SaslInit
from .types import Symbol

__all__ = ["SASL_MECHANISMS", "SaslPolicy"]

ANONYMOUS = Symbol("ANONYMOUS")
PLAIN = Symbol("PLAIN")
SASL_MECHANISMS = (ANONYMOUS, PLAIN)


@dataclass(frozen=True, slots=True)
class SaslPolicy:
    key_name: str | None = None
    key: str | None = None

    def outcome(self, init: SaslInit) -> SaslCode:
        """The outcome code for a client's sasl-init."""
        mechanism = str(init.mechanism)
        if mechanism == ANONYMOUS:
            return SaslCode.OK
        if mechanism == PLAIN:
            parts = (init.initial_response or b"").split(b"\x00")
            if len(parts) != 3:
                return SaslCode.AUTH
            if self.key is None:
                return SaslCode.OK
            user_ok = self.key_name is None or hmac.compare_digest(parts[1], self.key_name.encode())
            return SaslCode.OK if user_ok and hmac.compare_digest(parts[2], self.key.encode()) else SaslCode.AUTH
        return SaslCode.AUTH
