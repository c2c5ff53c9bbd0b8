"""The ``$cbs`` node and Shared Access Signature authorization: rules with rights, tokens, grants.

Without a rule every token is accepted and nothing is checked (a local emulator has nothing to protect). With
rules (each a key name, a key and rights among Listen, Send and Manage) a namespace behaves as Service Bus does:

- a put-token is checked (HMAC-SHA256 over ``quote_plus(sr) + "\\n" + se`` with the named rule's key, expiry,
  audience within ``sr``) and answered 202, or 401 with the reason, which is also logged at WARNING;
- a token for an entity that does not exist is answered 404 (the SDK raises ``ServiceBusAuthenticationError``);
- an accepted token becomes a :class:`Grant` of its rule's rights on the connection; links and management
  operations need a live grant with the right claim (Send to send, Listen to receive, Manage implies both).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ...sas import Grant, SasVerifier, audience_path
from ..protocol.errors import AmqpFault
from ..protocol.message import AmqpMessage
from ..protocol.performatives import ErrorCondition, Properties

__all__ = ["Authorizations", "CbsNode", "Grant", "SasVerifier", "audience_path"]

log = logging.getLogger("queue_emulator.amqp")

def has_claim(grants: Iterable[Grant], path: str, right: str, now: float) -> bool:
    return any(grant.covers(path, right, now) for grant in grants)


@dataclass(frozen=True, slots=True)
class CbsNode:
    verifier: SasVerifier
    entity_problem: Callable[[str], AmqpFault | None] = field(default=lambda path: None)
    """Why a token's entity cannot be used (it does not exist and is not auto-created, or its name breaks the
    naming rule), or None: a token for such an entity is refused with that status and reason."""

    def handle(self, request: AmqpMessage, *, peer: str = "?") -> tuple[AmqpMessage, Grant | None]:
        """Answer one put-token request; the grant (if any) is for the caller's connection."""
        props = request.application_properties or {}
        message_id = request.properties.message_id if request.properties else None
        operation = props.get("operation")
        audience = props.get("name")
        audience = audience.decode("utf-8", "replace") if isinstance(audience, bytes) else audience
        token = request.value
        if isinstance(token, bytes):
            token = token.decode("utf-8", "replace")
        grant: Grant | None = None
        if operation != "put-token":
            status, description = 400, f"unsupported $cbs operation {operation!r}"
        elif not isinstance(token, str):
            status, description = 400, "the put-token body must be the token string"
        else:
            checked = self.verifier.check(token, audience if isinstance(audience, str) else None)
            path = audience_path(audience) if isinstance(audience, str) else ""
            if isinstance(checked, str):
                status, description = 401, f"InvalidSignature: {checked}"
                log.warning("AMQP %s: put-token for %r rejected (401): %s", peer, audience, checked)
            elif path and (problem := self.entity_problem(path)) is not None:
                status = problem.status_code
                if status == 404:
                    description = f"The messaging entity {audience!r} could not be found."
                else:
                    description = f"{audience!r}: {problem.description}"
                log.warning("AMQP %s: put-token for %r rejected (%d): %s", peer, audience, status, description)
            else:
                status, description, grant = 202, "Accepted", checked
        reply = AmqpMessage(
            properties=Properties(correlation_id=message_id),
            application_properties={"status-code": status, "status-description": description},
        )
        return reply, grant


class Authorizations:
    """The grants each connection holds: from accepted put-tokens, or from a SASL PLAIN login with a rule's key.

    With no rule configured everything is allowed. A token rejected with 401 or 404 grants nothing."""

    def __init__(self, verifier: SasVerifier) -> None:
        self.verifier = verifier
        self._grants: weakref.WeakKeyDictionary[object, list[Grant]] = weakref.WeakKeyDictionary()

    def add(self, connection: object, grant: Grant) -> None:
        grants = self._grants.setdefault(connection, [])
        grants[:] = [g for g in grants if not (g.scope == grant.scope and g.rule == grant.rule)]
        grants.append(grant)

    def allows(self, connection: object, path: str, right: str) -> bool:
        if not self.verifier.enabled:
            return True
        now = self.verifier.now()
        login = getattr(connection, "sasl_identity", None)
        rule = self.verifier.rule(login) if isinstance(login, str) else None
        if rule is not None and rule.allows(right):
            return True
        return has_claim(self._grants.get(connection, ()), path, right, now)

    def require(self, connection: object, path: str, right: str, *, peer: str = "?") -> None:
        """Raise AmqpFault(amqp:unauthorized-access) unless the connection holds ``right`` on ``path``."""
        if self.allows(connection, path, right):
            return
        log.warning("AMQP %s: %s on %r refused: no valid token with the %r claim", peer, right, path, right)
        raise AmqpFault(
            ErrorCondition.UNAUTHORIZED_ACCESS,
            f"Unauthorized access. '{right}' claim(s) are required to perform this operation. Resource: '{path}'. "
            "Put a token signed with a rule that has this right on $cbs first.",
            401,
        )
