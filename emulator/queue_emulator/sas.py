"""Shared access authorization rules of the emulated namespace: a key name, a key and rights.

Shared by every front that checks Service Bus credentials (today the AMQP front). Keys never show in a repr.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

__all__ = ["RIGHTS", "SasRule", "parse_rule"]

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

