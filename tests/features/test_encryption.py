"""Message body encryption (spec section G, A24-A37): AES-256-GCM envelopes through the client on every provider
of the run, tampering and rotation, unknown keys, max age, replay cache, plaintext policy, redaction."""

from __future__ import annotations

import logging
import pickle
from datetime import UTC, datetime, timedelta

import pytest

from queue_runtime import (
    DeadLetterManager,
    EncryptionKey,
    InMemoryConfig,
    KeyRing,
    Message,
    MessageEncryption,
    MessageId,
    PlaintextPolicy,
    QueueClient,
    ReplayCache,
    SessionId,
)
from queue_runtime.errors import (
    DecryptionFailedError,
    EncryptedMessageExpiredError,
    EncryptionError,
    EncryptionKeyNotFoundError,
    QueueError,
    UnsupportedEnvelopeVersionError,
    ValidationError,
)
from queue_runtime.providers.memory import InMemoryProvider

MATERIAL_A = bytes(range(32))
MATERIAL_B = bytes(range(100, 132))
KEY_A = EncryptionKey("key-a", MATERIAL_A)
KEY_B = EncryptionKey("key-b", MATERIAL_B)
WAIT = 2.0


def received_like(message: Message, delivery_count: int = 1) -> object:
    """A ReceivedMessage-shaped value for the pure encryption rules (no provider needed)."""
    from queue_runtime import PeekedMessage

    assert message.message_id is not None
    return PeekedMessage(
        body=message.body,
        message_id=message.message_id,
        sequence_number=1,
        enqueued_time=datetime.now(UTC),
        delivery_count=delivery_count,
        attributes=message.attributes,
    )


def open_(encryption: MessageEncryption, message: Message, **kw: object) -> bytes:
    return encryption.open(received_like(message), **kw).body  # type: ignore[type-var, arg-type]


async def receive_bodies(client: QueueClient, queue: str, count: int) -> list[bytes]:
    bodies = []
    for _ in range(count * 3):
        for message in await client.receive_messages(queue, count - len(bodies), timeout=WAIT):
            bodies.append(message.body)
            await client.complete_message(message)
        if len(bodies) >= count:
            break
    return bodies


# -- through the providers


@pytest.mark.asyncio
async def test_round_trip_encrypts_only_the_body_on_every_provider_A24_A30(
    queue_client: QueueClient, queue_name: str
) -> None:
    queue_client.encryption = MessageEncryption(KEY_A)
    sent = Message(b"secret payload", attributes={"tenant": "acme"}, correlation_id="corr-1")
    message_id = await queue_client.send_message(queue_name, sent)
    peeked = []
    if queue_client.capabilities.peek:
        queue_client.encryption = None
        peeked = await queue_client.peek_messages(queue_name, 1)
        queue_client.encryption = MessageEncryption(KEY_A)
        assert peeked, "the provider declares peek: the sent message must be peekable"
    if peeked:  # on the wire: an envelope, with ids and attributes readable
        raw = peeked[0]
        assert raw.body.startswith(b"QRE1") and b"secret payload" not in raw.body
        assert raw.message_id == message_id and raw.correlation_id == "corr-1"
        assert dict(raw.attributes) == {"tenant": "acme"}
    received = await queue_client.receive_message(queue_name, timeout=WAIT)
    assert received is not None
    assert received.body == b"secret payload" and received.message_id == message_id
    assert dict(received.attributes) == {"tenant": "acme"} and received.correlation_id == "corr-1"
    await queue_client.complete_message(received)


@pytest.mark.asyncio
async def test_a_tampered_message_is_dead_lettered_and_the_others_arrive_A25(
    queue_client: QueueClient, queue_name: str
) -> None:
    encryption = MessageEncryption(KEY_A)
    good = encryption.seal(Message(b"good"))
    bad = encryption.seal(Message(b"bad"))
    flipped = bytearray(bad.body)
    flipped[-1] ^= 0x01  # one bit of the tag
    moved = Message(good.body, message_id=MessageId("another-id"))  # a valid body under another message id
    await queue_client.send_messages(queue_name, [Message(bytes(flipped), message_id=bad.message_id), moved, good])
    queue_client.encryption = encryption
    assert await receive_bodies(queue_client, queue_name, 1) == [b"good"]
    if queue_client.capabilities.dead_letter:
        dead = []
        for _ in range(4):
            dead.extend(await queue_client.receive_dead_letter_messages(queue_name, 2, timeout=WAIT))
            if len(dead) == 2:
                break
        assert sorted(m.dead_letter_reason or "" for m in dead) == ["decryption_failed", "decryption_failed"]
        assert all(m.attributes["queue_runtime.encryption_error"] == "decryption_failed" for m in dead)
        assert all((m.dead_letter_description or "").startswith("[DecryptionFailedError]") for m in dead)
        for m in dead:
            await queue_client.complete_message(m)


@pytest.mark.asyncio
async def test_rotation_new_messages_use_the_new_key_and_old_ones_still_decrypt_A27(
    queue_client: QueueClient, queue_name: str
) -> None:
    sender = MessageEncryption(KeyRing(KEY_A))
    queue_client.encryption = sender
    await queue_client.send_message(queue_name, Message(b"under a"))
    sender.keys.rotate(KEY_B)
    await queue_client.send_message(queue_name, Message(b"under b"))
    assert sorted(await receive_bodies(queue_client, queue_name, 2)) == [b"under a", b"under b"]
    assert sender.keys.current.key_id == "key-b"
    # the key id travels in the envelope: a receiver with only the new key cannot read the old message
    only_b = MessageEncryption(KEY_B)
    with pytest.raises(EncryptionKeyNotFoundError):
        open_(only_b, MessageEncryption(KEY_A).seal(Message(b"x")))


@pytest.mark.asyncio
async def test_plaintext_policies_on_mixed_traffic_A35_A37(
    queue_client: QueueClient, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    await queue_client.send_message(queue_name, Message(b"plain one"))
    queue_client.encryption = MessageEncryption(KEY_A, plaintext=PlaintextPolicy.ALLOW_WITH_WARNING)
    await queue_client.send_message(queue_name, Message(b"sealed"))
    with caplog.at_level(logging.WARNING, logger="queue_runtime.encryption"):
        assert sorted(await receive_bodies(queue_client, queue_name, 2)) == [b"plain one", b"sealed"]
    warnings = [r for r in caplog.records if r.name == "queue_runtime.encryption" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unencrypted" in warnings[0].getMessage()
    queue_client.encryption = None
    await queue_client.send_message(queue_name, Message(b"plain two"))
    queue_client.encryption = MessageEncryption(KEY_A, plaintext="reject")
    assert await queue_client.receive_message(queue_name, timeout=1.0) is None
    if queue_client.capabilities.dead_letter:
        dead = await queue_client.receive_dead_letter_messages(queue_name, 1, timeout=WAIT)
        assert [m.dead_letter_reason for m in dead] == ["unencrypted_message"]
        assert dead[0].body == b"plain two"


# -- the rules, on the in-memory provider or without one


def test_tampering_anywhere_fails_authentication_and_never_returns_plaintext_A25() -> None:
    encryption = MessageEncryption(KEY_A)
    sealed = encryption.seal(Message(b"attack at dawn", message_id=MessageId("m-1")))
    assert open_(encryption, sealed) == b"attack at dawn"
    header = 4 + 1 + 1 + len("key-a") + 8
    for position in (header + 3, header + 12 + 2, len(sealed.body) - 1, header - 2):  # nonce, text, tag, time
        body = bytearray(sealed.body)
        body[position] ^= 0x80
        with pytest.raises(DecryptionFailedError) as caught:
            open_(encryption, Message(bytes(body), message_id=MessageId("m-1")))
        assert caught.value.code == "decryption_failed" and "attack" not in caught.value.message
    with pytest.raises(DecryptionFailedError):  # the message id is associated data
        open_(encryption, Message(sealed.body, message_id=MessageId("m-2")))
    with pytest.raises(DecryptionFailedError):
        open_(encryption, Message(sealed.body[:20], message_id=MessageId("m-1")))


def test_unknown_key_and_unknown_version_are_distinct_typed_errors_A28_A33() -> None:
    sealed = MessageEncryption(KEY_B).seal(Message(b"x"))
    with pytest.raises(EncryptionKeyNotFoundError) as caught:
        open_(MessageEncryption(KEY_A), sealed)
    assert caught.value.details["key_id"] == "key-b" and caught.value.code == "encryption_key_not_found"
    assert not isinstance(caught.value, DecryptionFailedError)
    future = bytearray(sealed.body)
    future[4] = 2
    with pytest.raises(UnsupportedEnvelopeVersionError):
        open_(MessageEncryption(KEY_B), Message(bytes(future), message_id=sealed.message_id))
    for cls in (EncryptionKeyNotFoundError, DecryptionFailedError, UnsupportedEnvelopeVersionError):
        assert issubclass(cls, EncryptionError) and issubclass(cls, QueueError) and not cls.transient_by_default


def test_max_age_rejects_old_and_future_envelopes_and_can_be_off_A26() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    clock = [now]

    def at(offset: timedelta) -> MessageEncryption:
        return MessageEncryption(KEY_A, max_age=timedelta(minutes=5), now=lambda: clock[0] + offset)

    ten_ago = at(timedelta(minutes=-10)).seal(Message(b"old"))
    two_ago = at(timedelta(minutes=-2)).seal(Message(b"fresh"))
    ahead = at(timedelta(minutes=10)).seal(Message(b"from the future"))
    checking = at(timedelta(0))
    with pytest.raises(EncryptedMessageExpiredError):
        open_(checking, ten_ago)
    assert open_(checking, two_ago) == b"fresh"
    with pytest.raises(EncryptedMessageExpiredError):
        open_(checking, ahead)
    assert open_(MessageEncryption(KEY_A), ten_ago) == b"old"  # max_age off by default


@pytest.mark.asyncio
async def test_replay_cache_rejects_a_copy_but_not_a_redelivery_A29() -> None:
    async with QueueClient(InMemoryProvider(InMemoryConfig())) as client:
        await client.create_queue("q", max_delivery_count=5)
        encryption = MessageEncryption(KEY_A, replay_cache=ReplayCache(ttl=timedelta(minutes=10)))
        client.encryption = encryption
        await client.send_message("q", Message(b"pay 10", message_id=MessageId("pay-1")))
        first = await client.receive_message("q", timeout=0)
        assert first is not None and first.body == b"pay 10"
        await client.abandon_message(first)  # a redelivery is not a replay
        again = await client.receive_message("q", timeout=0)
        assert again is not None and again.delivery_count == 2 and again.body == b"pay 10"
        client.encryption = None
        raw = await client.peek_messages("q", 1)
        await client.complete_message(again)
        await client.send_message("q", Message(raw[0].body, message_id=MessageId("pay-1")))  # the attacker's copy
        client.encryption = encryption
        assert await client.receive_message("q", timeout=0) is None
        [dead] = await client.receive_dead_letter_messages("q", 1, timeout=0)
        assert dead.dead_letter_reason == "message_replayed"
        # off by default: the same copy passes without a cache
        client.encryption = MessageEncryption(KEY_A)
        await client.send_message("q", Message(raw[0].body, message_id=MessageId("pay-1")))
        copy = await client.receive_message("q", timeout=0)
        assert copy is not None and copy.body == b"pay 10"
    cache = ReplayCache(ttl=timedelta(seconds=1), monotonic=lambda: tick[0])
    tick = [0.0]
    assert cache.check_and_mark(b"n", first_delivery=True)
    assert not cache.check_and_mark(b"n", first_delivery=True)
    tick[0] = 2.0  # past the TTL: forgotten
    assert cache.check_and_mark(b"n", first_delivery=True)


def test_keys_never_appear_in_reprs_errors_or_pickles_A31(caplog: pytest.LogCaptureFixture) -> None:
    ring = KeyRing(KEY_B, previous=[KEY_A])
    encryption = MessageEncryption(ring)
    texts = [repr(KEY_A), str(KEY_A), repr(ring), repr(encryption)]
    with caplog.at_level(logging.DEBUG, logger="queue_runtime"):
        sealed = encryption.seal(Message(b"x"))
        open_(encryption, sealed)
        for bad in (MessageEncryption(EncryptionKey("other", bytes(32))), encryption):
            body = bytearray(sealed.body)
            body[-1] ^= 1
            with pytest.raises(EncryptionError) as refused:  # a tampered body never opens
                open_(bad, Message(bytes(body), message_id=sealed.message_id))
            texts += [refused.value.message, repr(refused.value), str(refused.value.details)]
    texts += [r.getMessage() for r in caplog.records]
    for material in (MATERIAL_A, MATERIAL_B):
        for text in texts:
            assert material.hex() not in text and repr(material) not in text and str(list(material)) not in text
    assert "key-a" in repr(ring)  # key ids are not secret
    with pytest.raises(ValidationError) as caught:
        EncryptionKey("short", b"\x01" * 16)
    assert "\\x01" not in caught.value.message
    with pytest.raises(TypeError):
        pickle.dumps(KEY_A)
    with pytest.raises(ValidationError):
        ring.retire("key-b")  # the current key


@pytest.mark.asyncio
async def test_no_encryption_means_plaintext_on_the_wire_A32() -> None:
    async with QueueClient(InMemoryProvider(InMemoryConfig())) as client:
        await client.create_queue("q")
        await client.send_message("q", Message(b"plain"))
        assert (await client.peek_messages("q", 1))[0].body == b"plain"


@pytest.mark.asyncio
async def test_dead_letters_resubmit_re_encrypts_under_the_new_message_id() -> None:
    async with QueueClient(InMemoryProvider(InMemoryConfig())) as client:
        await client.create_queue("q", requires_session=True)
        client.encryption = MessageEncryption(KEY_A)
        await client.send_message("q", Message(b"order", session_id=SessionId("s-1")))
        async with await client.accept_session("q", timeout=0) as session:
            received = await session.receive_message(timeout=0)
            assert received is not None and received.body == b"order"
            await session.dead_letter_message(received, "later")
        [entry] = await DeadLetterManager(client, receive_timeout=timedelta(0)).list("q")
        assert entry.message.body == b"order"  # peeked and decrypted
        result = await DeadLetterManager(client, receive_timeout=timedelta(0)).resubmit_all("q")
        assert result.success_count == 1
        async with await client.accept_session("q", timeout=0) as session:
            back = await session.receive_message(timeout=0)
            assert back is not None and back.body == b"order" and back.message_id != received.message_id
            await session.complete_message(back)


@pytest.mark.asyncio
async def test_seal_and_open_are_counted_with_encrypted_and_outcome_labels_A35() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    client = QueueClient(InMemoryProvider(InMemoryConfig()), meter_provider=MeterProvider(metric_readers=[reader]))
    async with client:
        await client.create_queue("q")
        await client.send_message("q", Message(b"plain"))
        client.encryption = MessageEncryption(KEY_A, plaintext="allow")
        await client.send_message("q", Message(b"sealed"))
        sealed_b = MessageEncryption(KEY_B).seal(Message(b"unknown key"))
        client.encryption = None
        await client.send_message("q", sealed_b)
        client.encryption = MessageEncryption(KEY_A, plaintext="allow")
        got = await client.receive_messages("q", 10, timeout=0)
        assert sorted(m.body for m in got) == [b"plain", b"sealed"]
    counts = {}
    for metric in reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics:
        if metric.name == "queue_runtime.encryption.messages":
            for point in metric.data.data_points:
                labels = dict(point.attributes)
                counts[(labels["direction"], labels["encrypted"], labels["outcome"])] = point.value
    assert counts == {
        ("seal", True, "ok"): 1,
        ("open", True, "ok"): 1,
        ("open", False, "ok"): 1,
        ("open", True, "encryption_key_not_found"): 1,
    }
