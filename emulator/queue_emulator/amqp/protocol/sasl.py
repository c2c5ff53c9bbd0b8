"""SASL for the emulator: ANONYMOUS always, PLAIN checked against the configured key names and keys.

With ANONYMOUS the real authentication happens later, through a SAS token put on the ``$cbs`` node.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from .performatives import SaslCode, SaslInit
from .types import Symbol

__all__ = ["SASL_MECHANISMS", "SaslPolicy"]

ANONYMOUS = Symbol("ANONYMOUS")
PLAIN = Symbol("PLAIN")
SASL_MECHANISMS = (ANONYMOUS, PLAIN)


@dataclass(frozen=True, slots=True)
class SaslPolicy:
    """``credentials``: user name -> password accepted by PLAIN; None accepts any PLAIN login."""

    credentials: Mapping[str, str] | None = field(default=None, repr=False)  # passwords: never in a repr

    def outcome(self, init: SaslInit) -> tuple[SaslCode, str | None]:
        """The outcome code for a client's sasl-init, and the PLAIN user it authenticated (if any)."""
        mechanism = str(init.mechanism)
        if mechanism == ANONYMOUS:
            return SaslCode.OK, None
        if mechanism == PLAIN:
            parts = (init.initial_response or b"").split(b"\x00")
            if len(parts) != 3:
                return SaslCode.AUTH, None
            user = parts[1].decode("utf-8", "replace")
            if self.credentials is None:
                return SaslCode.OK, None
            expected = self.credentials.get(user)
            if expected is not None and hmac.compare_digest(parts[2], expected.encode()):
                return SaslCode.OK, user
            return SaslCode.AUTH, None
        return SaslCode.AUTH, None
