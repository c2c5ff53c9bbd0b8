"""End-to-end encryption of message bodies: AES-256-GCM (the ``cryptography`` package) in a versioned envelope.

Only the body is encrypted; message id, session id, correlation id, content type and attributes stay readable,
so brokers can route and order. The envelope (version 1)::

    b"QRE1" | version (1 byte) | key id length (1 byte) | key id (ASCII) | encrypted at (8 bytes, unix ms,
    big-endian) | nonce (12 bytes) | ciphertext and 16-byte tag

The associated data is the whole header (everything before the ciphertext) plus the message id, so a changed
byte anywhere, or the body moved to another message id, fails authentication (``DecryptionFailedError``). GCM's
tag check is constant-time (OpenSSL's). Nonces are 96 random bits from the OS CSPRNG, fresh for every send.

Keys: :class:`EncryptionKey` never shows its bytes (repr, str, errors, logs); key ids are not secret and are
logged. Python cannot guarantee that key bytes are wiped from memory (the spec's "zeroed on drop"): keep keys in
a secret store and only in the processes that need them.
"""

from __future__ import annotations

import logging
import os
import struct
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from ._identifiers import MessageId
from ._messages import Message, PeekedMessage
from .errors import (
    ConfigurationError,
    DecryptionFailedError,
    EncryptedMessageExpiredError,
    EncryptionKeyNotFoundError,
    MessageReplayedError,
    UnencryptedMessageError,
    UnsupportedEnvelopeVersionError,
    ValidationError,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "ENVELOPE_MAGIC",
    "EncryptionKey",
    "KeyRing",
    "MessageEncryption",
    "PlaintextPolicy",
    "ReplayCache",
    "is_envelope",
]

logger = logging.getLogger("queue_runtime.encryption")

ENVELOPE_MAGIC = b"QRE1"
VERSION = 1
_NONCE = 12
_TAG = 16
_TIME = struct.Struct(">Q")
_FIXED_HEADER = len(ENVELOPE_MAGIC) + 2  # magic, version, key id length
PeekedT = TypeVar("PeekedT", bound=PeekedMessage)


def _aesgcm(material: bytes) -> AESGCM:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ConfigurationError(
            "message encryption needs the 'cryptography' package: pip install 'queue-runtime[crypto]'"
        ) from exc
    return AESGCM(material)


def is_envelope(body: bytes) -> bool:
    """True if ``body`` starts like an encrypted envelope (``b"QRE1"``): the spec's rule for mixed traffic."""
    return body.startswith(ENVELOPE_MAGIC)


def _check_key_id(key_id: str) -> str:
    if (
        not isinstance(key_id, str)
        or not 1 <= len(key_id) <= 64
        or not all("\x21" <= ch <= "\x7e" for ch in key_id)
    ):
        raise ValidationError("key_id", "must be 1-64 printable ASCII characters without spaces")
    return key_id


class EncryptionKey:
    """A 256-bit AES key and its id. The bytes are never shown: ``repr`` gives only the id."""

    __slots__ = ("_cipher", "key_id")

    def __init__(self, key_id: str, material: bytes) -> None:
        self.key_id = _check_key_id(key_id)
        if not isinstance(material, bytes | bytearray) or len(material) != 32:
            # The length alone is said, never the bytes.
            raise ValidationError("key", "must be exactly 32 bytes (AES-256)")
        self._cipher = _aesgcm(bytes(material))

    @classmethod
    def generate(cls, key_id: str) -> EncryptionKey:
        """A fresh random key (``os.urandom``)."""
        return cls(key_id, os.urandom(32))

    def __repr__(self) -> str:
        return f"EncryptionKey(key_id={self.key_id!r}, material=<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> str:
        raise TypeError("EncryptionKey cannot be pickled (it would write the key bytes out)")


class KeyRing:
    """The keys a client may decrypt with, and the current one it encrypts with.

    Rotation: ``rotate(new_key)`` makes ``new_key`` current; older keys stay, so messages encrypted with them
    still decrypt, until ``retire(key_id)`` removes them.
    """

    def __init__(self, current: EncryptionKey, previous: Iterable[EncryptionKey] = ()) -> None:
        self._keys: dict[str, EncryptionKey] = {}
        for key in (*previous, current):
            self._add(key)
        self._current = current

    def _add(self, key: EncryptionKey) -> None:
        if not isinstance(key, EncryptionKey):
            raise ValidationError("keys", f"must be EncryptionKey instances, got {type(key).__name__}")
        self._keys[key.key_id] = key

    @property
    def current(self) -> EncryptionKey:
        return self._current

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def get(self, key_id: str) -> EncryptionKey | None:
        return self._keys.get(key_id)

    def rotate(self, key: EncryptionKey) -> None:
        self._add(key)
        self._current = key

    def retire(self, key_id: str) -> None:
        if key_id == self._current.key_id:
            raise ValidationError("key_id", "cannot retire the current key; rotate to another one first")
        self._keys.pop(key_id, None)

    def __repr__(self) -> str:
        return f"KeyRing(current={self._current.key_id!r}, key_ids={self.key_ids!r})"


class PlaintextPolicy(StrEnum):
    """What a receiving client does with a body that is not an envelope (mixed traffic during a migration)."""

    ALLOW = "allow"
    ALLOW_WITH_WARNING = "allow_with_warning"
    REJECT = "reject"


class ReplayCache:
    """Nonces seen in the last ``ttl`` (at most ``max_entries``, oldest forgotten first).

    A nonce seen again on a **first** delivery (``delivery_count == 1``) is a replay: a copy of an encrypted
    message sent again as a new message. Redeliveries of the same message (``delivery_count > 1``, after an
    abandon or an expired lock) are the broker's at-least-once delivery and pass. The cache lives in one
    process: replicas each keep their own.
    """

    def __init__(
        self,
        ttl: timedelta = timedelta(minutes=10),
        max_entries: int = 100_000,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= timedelta(0) or max_entries < 1:
            raise ValidationError("replay_cache", "ttl must be positive and max_entries at least 1")
        self.ttl = ttl
        self.max_entries = max_entries
        self._monotonic = monotonic
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def check_and_mark(self, nonce: bytes, *, first_delivery: bool) -> bool:
        """True if fine (and remember ``nonce``), False if it is a replay."""
        now = self._monotonic()
        while self._seen:
            oldest, expires = next(iter(self._seen.items()))
            if expires > now:
                break
            del self._seen[oldest]
        if nonce in self._seen and first_delivery:
            return False
        self._seen[nonce] = now + self.ttl.total_seconds()
        self._seen.move_to_end(nonce)
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        return True


@dataclass(frozen=True, slots=True)
class _Envelope:
    version: int
    key_id: str
    encrypted_at: datetime
    nonce: bytes
    header: bytes
    ciphertext: bytes


def _parse(body: bytes, message_id: str) -> _Envelope:
    if len(body) < _FIXED_HEADER:
        raise DecryptionFailedError(
            f"message {message_id}: envelope is truncated", details={"message_id": message_id}
        )
    version = body[len(ENVELOPE_MAGIC)]
    if version != VERSION:
        raise UnsupportedEnvelopeVersionError(
            f"message {message_id}: envelope version {version} is not supported (this library reads {VERSION})",
            details={"message_id": message_id, "version": version},
        )
    key_length = body[len(ENVELOPE_MAGIC) + 1]
    header_end = _FIXED_HEADER + key_length + _TIME.size + _NONCE
    if key_length == 0 or len(body) < header_end + _TAG:
        raise DecryptionFailedError(
            f"message {message_id}: envelope is truncated", details={"message_id": message_id}
        )
    try:
        key_id = body[_FIXED_HEADER : _FIXED_HEADER + key_length].decode("ascii")
    except UnicodeDecodeError as exc:
        raise DecryptionFailedError(
            f"message {message_id}: envelope key id is not ASCII", details={"message_id": message_id}
        ) from exc
    (millis,) = _TIME.unpack_from(body, _FIXED_HEADER + key_length)
    nonce = body[header_end - _NONCE : header_end]
    return _Envelope(
        version=version,
        key_id=key_id,
        encrypted_at=datetime.fromtimestamp(millis / 1000, UTC),
        nonce=nonce,
        header=body[:header_end],
        ciphertext=body[header_end:],
    )


def _associated_data(header: bytes, message_id: str) -> bytes:
    return header + b"\x00" + message_id.encode("ascii")


class MessageEncryption:
    """Encrypt bodies on send and decrypt them on receive; give it to ``QueueClient(encryption=...)``.

    - ``keys``: a :class:`KeyRing` (or one :class:`EncryptionKey`).
    - ``plaintext``: what to do with bodies that are not envelopes (default ``ALLOW``, as the spec).
    - ``max_age``: reject envelopes encrypted longer ago than this (``None``: no check); envelopes more than
      ``max_clock_skew`` in the future are rejected too when it is set.
    - ``replay_cache``: a :class:`ReplayCache` to reject replayed envelopes (off by default).
    - ``now``: the clock for ``max_age`` (injectable for tests).
    """

    def __init__(
        self,
        keys: KeyRing | EncryptionKey,
        *,
        plaintext: PlaintextPolicy | str = PlaintextPolicy.ALLOW,
        max_age: timedelta | None = None,
        max_clock_skew: timedelta = timedelta(seconds=60),
        replay_cache: ReplayCache | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.keys = keys if isinstance(keys, KeyRing) else KeyRing(keys)
        try:
            self.plaintext = PlaintextPolicy(plaintext)
        except ValueError as exc:
            raise ValidationError("plaintext", f"must be one of {[p.value for p in PlaintextPolicy]}") from exc
        if max_age is not None and max_age <= timedelta(0):
            raise ValidationError("max_age", "must be a positive duration or None")
        self.max_age = max_age
        self.max_clock_skew = max_clock_skew
        self.replay_cache = replay_cache
        self._now = now

    def __repr__(self) -> str:
        return (
            f"MessageEncryption(keys={self.keys!r}, plaintext={self.plaintext.value!r}, "
            f"max_age={self.max_age!r}, replay_cache={self.replay_cache is not None})"
        )

    # -- sending
    def seal(self, message: Message) -> Message:
        """``message`` with its body encrypted under the current key (a message id is assigned if missing,
        because it is part of the associated data). A body that already is an envelope is left as it is."""
        message_id = message.message_id or MessageId.new()
        if is_envelope(message.body):
            return message if message.message_id is not None else replace(message, message_id=message_id)
        key = self.keys.current
        key_id = key.key_id.encode("ascii")
        millis = int(self._now().timestamp() * 1000)
        nonce = os.urandom(_NONCE)
        header = ENVELOPE_MAGIC + bytes((VERSION, len(key_id))) + key_id + _TIME.pack(millis) + nonce
        ciphertext = key._cipher.encrypt(nonce, message.body, _associated_data(header, message_id))
        return replace(message, body=header + ciphertext, message_id=message_id)

    # -- receiving
    def open(self, message: PeekedT, *, check_replay: bool = False) -> PeekedT:
        """``message`` with its body decrypted (or, for plaintext, as the policy says).

        Raises the :class:`~queue_runtime.errors.EncryptionError` that says why it cannot: unknown key id,
        failed authentication (tampering), unsupported version, too old, replayed, or plaintext refused.
        ``check_replay`` is for first-hand deliveries (peek-lock receives), not peeks or dead-letter reads.
        """
        message_id = str(message.message_id)
        if not is_envelope(message.body):
            return self._plaintext(message)
        envelope = _parse(message.body, message_id)
        key = self.keys.get(envelope.key_id)
        if key is None:
            raise EncryptionKeyNotFoundError(
                f"message {message_id}: no key with id '{envelope.key_id}' (known: {', '.join(self.keys.key_ids)})",
                details={"message_id": message_id, "key_id": envelope.key_id},
            )
        from cryptography.exceptions import InvalidTag

        try:
            plain = key._cipher.decrypt(
                envelope.nonce, envelope.ciphertext, _associated_data(envelope.header, message_id)
            )
        except InvalidTag as exc:
            raise DecryptionFailedError(
                f"message {message_id}: authentication failed (ciphertext, tag, header or message id changed)",
                details={"message_id": message_id, "key_id": envelope.key_id},
            ) from exc
        self._check_age(envelope, message_id)
        if check_replay and self.replay_cache is not None:
            if not self.replay_cache.check_and_mark(envelope.nonce, first_delivery=message.delivery_count <= 1):
                raise MessageReplayedError(
                    f"message {message_id}: this encrypted message was received before (replay)",
                    details={"message_id": message_id, "key_id": envelope.key_id},
                )
        logger.debug("decrypted message %s with key %s", message_id, envelope.key_id)
        return replace(message, body=plain)

    def _check_age(self, envelope: _Envelope, message_id: str) -> None:
        if self.max_age is None:
            return
        age = self._now() - envelope.encrypted_at
        if age > self.max_age or age < -self.max_clock_skew:
            raise EncryptedMessageExpiredError(
                f"message {message_id}: encrypted {age.total_seconds():.0f}s ago, outside max_age "
                f"{self.max_age.total_seconds():.0f}s",
                details={"message_id": message_id, "age_seconds": age.total_seconds()},
            )

    def _plaintext(self, message: PeekedT) -> PeekedT:
        if self.plaintext is PlaintextPolicy.REJECT:
            raise UnencryptedMessageError(
                f"message {message.message_id} is not encrypted and the plaintext policy is 'reject'",
                details={"message_id": str(message.message_id)},
            )
        if self.plaintext is PlaintextPolicy.ALLOW_WITH_WARNING:
            logger.warning(
                "received unencrypted message %s", message.message_id,
                extra={"message_id": str(message.message_id), "encrypted": False},
            )
        return message
