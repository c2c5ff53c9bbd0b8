"""Shared access authorization of the emulated namespace: rules (a key name, a key and rights), the Shared Access
Signature check and the grant a valid token gives.

Shared by every front that checks Service Bus credentials (the AMQP front's ``$cbs`` node and the administration
endpoint's ``Authorization`` header), so a token means the same everywhere. Without a rule every token is accepted.
With rules, a token's HMAC-SHA256 signature over ``quote_plus(sr) + "\\n" + se`` with the named rule's key, its
expiry and its audience are checked, as Azure does. Keys never show in a repr and never in a reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote_plus, urlsplit

from pydantic import SecretStr

__all__ = ["RIGHTS", "Grant", "SasRule", "SasVerifier", "audience_path", "parse_rule"]

RIGHTS = ("Listen", "Send", "Manage")


@dataclass(frozen=True, slots=True)
class SasRule:
    """One shared access authorization rule of the namespace. The key never shows in a repr."""

    name: str
    key: SecretStr
    rights: frozenset[str] = frozenset(RIGHTS)

    def __post_init__(self) -> None:
        unknown = set(self.rights) - set(RIGHTS)
        if unknown or not self.rights:
            raise ValueError(f"rule {self.name!r}: rights must be among {', '.join(RIGHTS)}, got {sorted(self.rights)}")

    def allows(self, right: str) -> bool:
        return "Manage" in self.rights or right in self.rights


def parse_rule(text: str) -> tuple[str, frozenset[str], str]:
    """``NAME:RIGHTS:KEY`` (rights joined by ``,`` or ``+``) as given to ``--sas-rule``."""
    name, sep, rest = text.partition(":")
    rights, sep2, key = rest.partition(":")
    if not name or not sep or not sep2 or not key:
        raise ValueError("a SAS rule is NAME:RIGHTS:KEY, e.g. listener:Listen:secret or app:Listen,Send:secret")
    return name, frozenset(r.strip().capitalize() for r in rights.replace("+", ",").split(",") if r.strip()), key


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
