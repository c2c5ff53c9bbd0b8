"""Property references: ``sys.`` system properties (a fixed set) and ``user.`` or bare application properties.

Property names are case-insensitive, as on Service Bus. The engine hands system properties in a mapping keyed by the
lower-case names below; application properties in a mapping keyed as the sender wrote them, looked up exactly first
and then case-insensitively.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ._values import kind_of
from .errors import FilterEvaluationError

__all__ = [
    "READ_ONLY_SYSTEM_PROPERTIES",
    "SYSTEM_PROPERTIES",
    "Getter",
    "PropertyRef",
    "resolve_property",
]

Getter = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]

# name a filter may write after "sys." (case-insensitive) -> the engine's key
SYSTEM_PROPERTIES: dict[str, str] = {
    "messageid": "messageid",
    "correlationid": "correlationid",
    "to": "to",
    "replyto": "replyto",
    "label": "label",
    "subject": "label",
    "sessionid": "sessionid",
    "replytosessionid": "replytosessionid",
    "contenttype": "contenttype",
    "timetolive": "timetolive",
    "scheduledenqueuetimeutc": "scheduledenqueuetimeutc",
    "enqueuedtimeutc": "enqueuedtimeutc",
    "sequencenumber": "sequencenumber",
    "deliverycount": "deliverycount",
    "size": "size",
    # Further properties of a Service Bus message: readable (NULL unless the engine supplies them), never written.
    "partitionkey": "partitionkey",
    "viapartitionkey": "viapartitionkey",
    "transactionpartitionkey": "viapartitionkey",
    "expiresatutc": "expiresatutc",
    "lockeduntilutc": "lockeduntilutc",
    "locktoken": "locktoken",
    "enqueuedsequencenumber": "enqueuedsequencenumber",
    "deadlettersource": "deadlettersource",
    "state": "state",
}
# Set by the broker, never by a rule action.
READ_ONLY_SYSTEM_PROPERTIES = frozenset(
    {
        "scheduledenqueuetimeutc",
        "enqueuedtimeutc",
        "sequencenumber",
        "deliverycount",
        "size",
        "partitionkey",
        "viapartitionkey",
        "expiresatutc",
        "lockeduntilutc",
        "locktoken",
        "enqueuedsequencenumber",
        "deadlettersource",
        "state",
    }
)
_MISSING: Any = object()


def find_user_key(user: Mapping[str, Any], name: str) -> str | None:
    """The key of ``user`` that names ``name`` (exact match first, then case-insensitive), or None."""
    if name in user:
        return name
    folded, size = name.casefold(), len(name)
    for key in user:  # names of one length only: .NET's OrdinalIgnoreCase never matches "ß" with "ss"
        if isinstance(key, str) and len(key) == size and key.casefold() == folded:
            return key
    return None


@dataclass(frozen=True, slots=True)
class PropertyRef:
    """One property named in an expression: ``scope`` is "sys" or "user"; ``key`` the engine key or the user name."""

    scope: str
    name: str
    key: str

    @property
    def text(self) -> str:
        return f"{self.scope}.{self.name}"

    def getter(self) -> Getter:
        key = self.key
        if self.scope == "sys":
            if key == "timetolive":

                def ttl(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
                    seconds = system.get("timetolive")
                    if seconds is None or isinstance(seconds, timedelta):
                        return seconds
                    return timedelta(seconds=seconds)

                return ttl
            return lambda system, user: system.get(key)
        folded, size = key.casefold(), len(key)

        def get_user(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
            value = user.get(key, _MISSING)
            if value is not _MISSING:
                return value
            for name in user:
                if isinstance(name, str) and len(name) == size and name.casefold() == folded:
                    return user[name]
            return None

        return get_user

    def exists(self) -> Getter:
        key = self.key
        if self.scope == "sys":
            return lambda system, user: system.get(key) is not None
        return lambda system, user: find_user_key(user, key) is not None

    def setter(self) -> Callable[[MutableMapping[str, Any], MutableMapping[str, Any], Any], None]:
        key = self.key
        if self.scope == "user":

            def set_user(system: MutableMapping[str, Any], user: MutableMapping[str, Any], value: Any) -> None:
                found = find_user_key(user, key)
                if found is None:
                    user[key] = value
                    return
                existing = user[found]
                # SET converts implicitly where C# would: an Int64 assigned to a double property stays a double.
                if isinstance(existing, float) and kind_of(value) == "number" and not isinstance(value, float):
                    value = float(value)
                user[found] = value

            return set_user
        text = self.text
        if key == "timetolive":

            def set_ttl(system: MutableMapping[str, Any], user: MutableMapping[str, Any], value: Any) -> None:
                if value is None:
                    system[key] = None
                    return
                if kind_of(value) != "timespan":
                    found = kind_of(value) or type(value).__name__
                    raise FilterEvaluationError(f"{text} takes a timespan, not {found}")
                if value <= timedelta(0):
                    raise FilterEvaluationError(f"{text} must be positive")
                system[key] = value.total_seconds()

            return set_ttl

        def set_text(system: MutableMapping[str, Any], user: MutableMapping[str, Any], value: Any) -> None:
            if value is None:
                if key == "messageid":
                    raise FilterEvaluationError(f"{text} cannot be NULL")
                system[key] = None
                return
            if kind_of(value) != "string":
                raise FilterEvaluationError(f"{text} takes a string, not {kind_of(value) or type(value).__name__}")
            system[key] = str(value)

        return set_text

    def remover(self) -> Callable[[MutableMapping[str, Any], MutableMapping[str, Any]], None]:
        key = self.key
        if self.scope == "user":

            def remove_user(system: MutableMapping[str, Any], user: MutableMapping[str, Any]) -> None:
                found = find_user_key(user, key)
                if found is not None:
                    del user[found]

            return remove_user

        def remove_system(system: MutableMapping[str, Any], user: MutableMapping[str, Any]) -> None:
            system[key] = None

        return remove_system


def resolve_property(scope: str | None, name: str) -> PropertyRef:
    """The reference for ``[scope.]name``; raises KeyError (with a reason) for an unknown scope or system property."""
    if scope is None or scope.casefold() == "user":
        return PropertyRef("user", name, name)
    if scope.casefold() != "sys":
        raise KeyError(f"unknown scope '{scope}' (use sys. or user.)")
    key = SYSTEM_PROPERTIES.get(name.casefold())
    if key is None:
        raise KeyError(f"unknown system property 'sys.{name}'")
    return PropertyRef("sys", name, key)
