"""Session key strategies: derive a message's ``SessionId`` from its attributes or its JSON payload.

A strategy answers one question: which messages must be handled in order, one at a time? All events of one pull
request, say. It returns a :class:`~queue_runtime.SessionId`, or ``None`` for "no ordering needed".

- :class:`SingleFieldStrategy`: one field, with an optional prefix (``"tenant-acme"``).
- :class:`CompositeKeyStrategy`: several fields joined by a separator (``"acme/eu"``).
- :class:`NoOrderingStrategy`: always ``None``.
- :class:`FallbackStrategy`: the first strategy that finds its fields.
- :class:`GitHubEntityStrategy`: ``owner/repo/entity-type/entity-id`` from a GitHub webhook payload.

A field is an attribute name (a ``str``) or a :class:`PayloadField` (a path into the JSON body). A missing field
gives ``None`` (the strategy does not apply; a fallback chain tries the next one). A key that is not a valid
``SessionId`` (over 128 characters, spaces, non-ASCII) is never returned as is: with ``on_invalid="error"``
(the default) the strategy raises :class:`~queue_runtime.errors.SessionKeyError`; with ``on_invalid="hash"`` it
returns a deterministic valid id instead (see :func:`hashed_session_id`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from ._identifiers import SessionId
from ._messages import Message, PeekedMessage
from .errors import SessionKeyError, ValidationError

__all__ = [
    "CompositeKeyStrategy",
    "FallbackStrategy",
    "GitHubEntityStrategy",
    "NoOrderingStrategy",
    "PayloadField",
    "SessionKeyStrategy",
    "SingleFieldStrategy",
    "hashed_session_id",
    "session_id_from_parts",
]

OnInvalid = Literal["error", "hash"]
_DIGEST_CHARS = 32


@dataclass(frozen=True, slots=True)
class PayloadField:
    """A value inside the JSON body, by dotted path: ``PayloadField("repository.owner.login")``.

    Numbers and booleans are turned into text (``42`` -> ``"42"``); objects, lists and ``null`` count as missing.
    """

    path: str

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path or any(not part for part in self.path.split(".")):
            raise ValidationError("path", f"must be a dotted path such as 'repository.id', got {self.path!r}")


Field = str | PayloadField


class _Lookup:
    """Reads fields of one message; parses the body at most once."""

    _NOT_PARSED: Any = object()

    def __init__(self, message: Message | PeekedMessage) -> None:
        self.message = message
        self._payload: Any = self._NOT_PARSED

    def payload(self) -> Any:
        if self._payload is self._NOT_PARSED:
            try:
                self._payload = json.loads(self.message.body)
            except (UnicodeDecodeError, json.JSONDecodeError):
                self._payload = None
        return self._payload

    def path(self, dotted: str) -> Any:
        value = self.payload()
        for part in dotted.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return None
            value = value[part]
        return value

    def get(self, field: Field) -> str | None:
        if isinstance(field, PayloadField):
            return _as_text(self.path(field.path))
        value = self.message.attributes.get(field)
        return value if value else None


def _as_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and value:
        return value
    return None


def hashed_session_id(key: str) -> SessionId:
    """A valid ``SessionId`` for any key, the same for the same key: the key's printable ASCII characters (spaces
    dropped) cut to fit, then ``~`` and 32 hex digits of the key's SHA-256. Two different keys get different ids
    unless their digests collide in 128 bits."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]
    readable = "".join(ch for ch in key if "\x21" <= ch <= "\x7e")[: SessionId.MAX_LENGTH - _DIGEST_CHARS - 1]
    return SessionId(f"{readable}~{digest}")


def _finish(key: str, on_invalid: OnInvalid, strategy: str) -> SessionId:
    try:
        return SessionId(key)
    except ValidationError as exc:
        if on_invalid == "hash":
            return hashed_session_id(key)
        raise SessionKeyError(strategy, exc.rule) from exc


def _check_on_invalid(value: str) -> OnInvalid:
    if value not in ("error", "hash"):
        raise ValidationError("on_invalid", f"must be 'error' or 'hash', got {value!r}")
    return value  # type: ignore[return-value]


def _check_field(field: Any) -> Field:
    if isinstance(field, PayloadField) or (isinstance(field, str) and field):
        return field
    raise ValidationError("field", f"must be an attribute name or a PayloadField, got {field!r}")


class SessionKeyStrategy:
    """Base class: ``session_id(message)`` returns the message's session, or ``None`` for no ordering.

    Strategies are pure (the same message always gives the same key) and hold no state, so one instance is safe
    to share between tasks and threads.
    """

    def session_id(self, message: Message | PeekedMessage) -> SessionId | None:
        """The key this strategy derives from ``message``'s fields (its own ``session_id`` is not consulted)."""
        return self._key(_Lookup(message))

    def _key(self, lookup: _Lookup) -> SessionId | None:
        raise NotImplementedError

    def apply(self, message: Message) -> Message:
        """``message`` with its session id set from this strategy, unless it already has one (an explicit
        ``session_id`` always wins) or the strategy gives ``None``."""
        if message.session_id is not None:
            return message
        session_id = self.session_id(message)
        if session_id is None:
            return message
        return replace(message, session_id=session_id)


class SingleFieldStrategy(SessionKeyStrategy):
    """One field's value, as ``"{prefix}-{value}"`` when a prefix is given."""

    def __init__(self, field: Field, prefix: str | None = None, *, on_invalid: OnInvalid = "error") -> None:
        self.field = _check_field(field)
        if prefix is not None and (not isinstance(prefix, str) or not prefix):
            raise ValidationError("prefix", "must be a non-empty string or None")
        self.prefix = prefix
        self.on_invalid = _check_on_invalid(on_invalid)

    def __repr__(self) -> str:
        return f"SingleFieldStrategy({self.field!r}, prefix={self.prefix!r})"

    def _key(self, lookup: _Lookup) -> SessionId | None:
        value = lookup.get(self.field)
        if value is None:
            return None
        key = value if self.prefix is None else f"{self.prefix}-{value}"
        return _finish(key, self.on_invalid, repr(self))


class CompositeKeyStrategy(SessionKeyStrategy):
    """Several fields' values joined by ``separator``; ``None`` if any of them is missing."""

    def __init__(self, fields: Sequence[Field], separator: str = "/", *, on_invalid: OnInvalid = "error") -> None:
        if isinstance(fields, str) or not fields:
            raise ValidationError("fields", "must be a non-empty list of fields")
        self.fields = tuple(_check_field(f) for f in fields)
        if not isinstance(separator, str):
            raise ValidationError("separator", "must be a string")
        self.separator = separator
        self.on_invalid = _check_on_invalid(on_invalid)

    def __repr__(self) -> str:
        return f"CompositeKeyStrategy({list(self.fields)!r}, separator={self.separator!r})"

    def _key(self, lookup: _Lookup) -> SessionId | None:
        values = [lookup.get(f) for f in self.fields]
        if any(v is None for v in values):
            return None
        return _finish(self.separator.join(v for v in values if v is not None), self.on_invalid, repr(self))


class NoOrderingStrategy(SessionKeyStrategy):
    """No ordering: every message may be handled concurrently with every other."""

    def __repr__(self) -> str:
        return "NoOrderingStrategy()"

    def _key(self, lookup: _Lookup) -> SessionId | None:
        return None


class FallbackStrategy(SessionKeyStrategy):
    """The first strategy that gives a key. An invalid key raises (or is hashed) in the strategy that made it;
    it does not fall through to the next one, so a bad value is noticed instead of silently regrouped."""

    def __init__(self, *strategies: SessionKeyStrategy) -> None:
        if not strategies or not all(isinstance(s, SessionKeyStrategy) for s in strategies):
            raise ValidationError("strategies", "must be one or more SessionKeyStrategy instances")
        self.strategies = strategies

    def __repr__(self) -> str:
        return f"FallbackStrategy({', '.join(map(repr, self.strategies))})"

    def _key(self, lookup: _Lookup) -> SessionId | None:
        for strategy in self.strategies:
            key = strategy._key(lookup)
            if key is not None:
                return key
        return None


def session_id_from_parts(
    owner: str, repo: str, entity_type: str, entity_id: str | int, *, on_invalid: OnInvalid = "error"
) -> SessionId:
    """``"owner/repo/entity_type/entity_id"`` as a validated ``SessionId`` (``"octo/hello/pr/42"``)."""
    key = "/".join(str(part) for part in (owner, repo, entity_type, entity_id))
    return _finish(key, _check_on_invalid(on_invalid), "session_id_from_parts")


class GitHubEntityStrategy(SessionKeyStrategy):
    """``owner/repo/entity-type/entity-id`` from a GitHub webhook payload, so that every event about one pull
    request (opened, review, comment, CI check) lands in one session.

    The repository comes from ``repository.owner.login`` and ``repository.name``. The entity is the first of
    ``pull_request`` (``pr``), ``issue`` (``issue``, or ``pr`` when the issue is a pull request, as for comments
    on one), ``discussion``, ``check_suite``/``check_run`` (the pull request they run for, else ``commit`` and the
    head SHA) found in the payload. ``None`` when the payload has no repository or no entity: such events
    (``push``, ``star``...) need no ordering; chain a :class:`FallbackStrategy` to group them another way.
    """

    def __init__(self, *, on_invalid: OnInvalid = "error") -> None:
        self.on_invalid = _check_on_invalid(on_invalid)

    def __repr__(self) -> str:
        return "GitHubEntityStrategy()"

    def _key(self, lookup: _Lookup) -> SessionId | None:
        owner = _as_text(lookup.path("repository.owner.login"))
        repo = _as_text(lookup.path("repository.name"))
        entity = self._entity(lookup)
        if owner is None or repo is None or entity is None:
            return None
        key = "/".join((owner, repo, *entity))
        return _finish(key, self.on_invalid, repr(self))

    @staticmethod
    def _entity(lookup: _Lookup) -> tuple[str, str] | None:
        number = _as_text(lookup.path("pull_request.number"))
        if number is not None:
            return "pr", number
        number = _as_text(lookup.path("issue.number"))
        if number is not None:
            is_pr = isinstance(lookup.path("issue.pull_request"), Mapping)
            return ("pr" if is_pr else "issue"), number
        number = _as_text(lookup.path("discussion.number"))
        if number is not None:
            return "discussion", number
        for check in ("check_suite", "check_run"):
            pulls = lookup.path(f"{check}.pull_requests")
            if isinstance(pulls, list) and pulls and isinstance(pulls[0], Mapping):
                number = _as_text(pulls[0].get("number"))
                if number is not None:
                    return "pr", number
            sha = _as_text(lookup.path(f"{check}.head_sha"))
            if sha is not None:
                return "commit", sha
        return None
