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

import base64
import hashlib
import hmac
import logging
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote_plus, urlsplit

from pydantic import SecretStr

from ...sas import RIGHTS, SasRule
from ..protocol.errors import AmqpFault
from ..protocol.message import AmqpMessage
from ..protocol.performatives import ErrorCondition, Properties

__all__ = ["Authorizations", "CbsNode", "Grant", "SasVerifier", "audience_path"]

log = logging.getLogger("queue_emulator.amqp")

def audience_path(uri: str) -> str:
    """The entity path a token audience or resource names (``sb://host:5672/q1`` -> ``q1``; namespace -> ``""``)."""
    path = urlsplit(uri).path if "://" in uri else uri
    return path.strip("/")


@dataclass(frozen=True, slots=True)
class Grant:
    """What one accepted token (or a SASL PLAIN login) allows on its connection."""

    rule: str
    rights: frozenset[str]
    scope: str
    """Entity path prefix the token was signed for (lower case); empty for the whole namespace."""
    expires_at: float | None

    def in_scope(self, path: str) -> bool:
        target = path.lower().strip("/")
        return not self.scope or target == self.scope or target.startswith(self.scope + "/")

    def covers(self, path: str, right: str, now: float) -> bool:
        if self.expires_at is not None and self.expires_at < now:
            return False
        if "Manage" not in self.rights and right not in self.rights:
            return False
        return self.in_scope(path)


@dataclass(frozen=True, slots=True)
class SasVerifier:
    rules: tuple[SasRule, ...] = ()
    now: Callable[[], float] = field(default=time.time)

    @classmethod
    def single(cls, key_name: str | None, key: str | None) -> SasVerifier:
        """One Manage rule (the ``--sas-key`` of older releases); no key means no checks."""
        if key is None:
            return cls()
        return cls((SasRule(key_name or "RootManageSharedAccessKey", SecretStr(key)),))

    @property
    def enabled(self) -> bool:
        return bool(self.rules)

    def rule(self, name: str) -> SasRule | None:
        return next((rule for rule in self.rules if rule.name == name), None)

    def check(self, token: str, audience: str | None = None) -> Grant | str:
        """The grant a token gives, or why it gives none (the reason never repeats the token or the key)."""
        if not self.enabled:
            return Grant("", frozenset(RIGHTS), "", None)
        prefix = "SharedAccessSignature "
        if not token.startswith(prefix):
            return "the token is not a SharedAccessSignature"
        fields = {name: values[0] for name, values in parse_qs(token[len(prefix):], keep_blank_values=True).items()}
        resource, signature, expiry, key_name = (fields.get(k) for k in ("sr", "sig", "se", "skn"))
        if resource is None or signature is None or expiry is None:
            return "the token lacks sr, sig or se"
        rule = self.rule(key_name or "")
        if rule is None:
            return f"unknown shared access key name {key_name!r}"
        try:
            expires_at = int(expiry)
        except ValueError:
            return "the token's expiry is not a number"
        to_sign = f"{quote_plus(resource)}\n{expires_at}".encode()
        key = rule.key.get_secret_value().encode()
        expected = base64.b64encode(hmac.new(key, to_sign, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, signature):
            return f"the token's signature does not match the key of rule {rule.name!r}"
        if expires_at < self.now():
            return "the token has expired"
        grant = Grant(rule.name, rule.rights, audience_path(resource).lower(), float(expires_at))
        if audience is not None and not grant.in_scope(audience_path(audience)):
            return f"the token was signed for {resource!r}, which does not cover {audience!r}"
        return grant


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
