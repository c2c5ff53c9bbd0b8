"""The broker engine's rules, driven directly with a manual clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from queue_runtime import QueueOptions
from queue_runtime.broker import Broker, BrokerLimits, BrokerMessage, ManualClock, dead_letter_path
from queue_runtime.errors import (
    BatchTooLargeError,
    MessageLockLostError,
    MessageNotFoundError,
    MessageTooLargeError,
    QueueAlreadyExistsError,
    QueueNotFoundError,
    QuotaExceededError,
    SessionCannotBeLockedError,
    SessionLockLostError,
    SessionRequiredError,
    UnsupportedOperationError,
)

DLQ = dead_letter_path("q")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_700_000_000.0)


def make(clock: ManualClock, **options: object) -> Broker:
    broker = Broker(clock)
    broker.create_queue("q", QueueOptions.model_validate(options))
    return broker


def msg(body: bytes = b"x", **fields: object) -> BrokerMessage:
    return BrokerMessage(body=body, **fields)  # type: ignore[arg-type]


def bodies(messages: list[BrokerMessage]) -> list[bytes]:
    return [m.body for m in messages]


# ---------------------------------------------------------------- entities


def test_queue_lifecycle_and_errors(clock: ManualClock) -> None:
    broker = make(clock)
    with pytest.raises(QueueAlreadyExistsError):
        broker.create_queue("q")
    with pytest.raises(QueueNotFoundError, match="queue 'nope' does not exist"):
        broker.send("nope", [msg()])
    broker.delete_queue("q")
    with pytest.raises(QueueNotFoundError):
        broker.receive("q")


def test_auto_create_makes_queues_on_first_use(clock: ManualClock) -> None:
    broker = Broker(clock, auto_create=True)
    broker.send("fresh", [msg(b"a")])
    assert bodies(broker.receive("fresh")) == [b"a"]


def test_queue_limit_is_a_setting(clock: ManualClock) -> None:
    broker = Broker(clock, limits=BrokerLimits(max_queues=2))
    broker.create_queue("a")
    broker.create_queue("b")
    with pytest.raises(QuotaExceededError, match="limit of 2 queues"):
        broker.create_queue("c")


# ---------------------------------------------------------------- peek-lock


def test_received_message_is_invisible_until_settled(clock: ManualClock) -> None:
    broker = make(clock)
    broker.send("q", [msg(b"a")])
    [first] = broker.receive("q")
    assert first.delivery_count == 1 and first.lock_token
    assert broker.receive("q") == []
    broker.complete("q", first.lock_token)
    assert broker.receive("q") == []
    assert broker.get_queue("q").total_count == 0


def test_fifo_order_without_sessions(clock: ManualClock) -> None:
    broker = make(clock)
    broker.send("q", [msg(bytes([i])) for i in range(5)])
    assert bodies(broker.receive("q", 5)) == [bytes([i]) for i in range(5)]


def test_abandon_redelivers_with_incremented_delivery_count_at_the_front(clock: ManualClock) -> None:
    broker = make(clock)
    broker.send("q", [msg(b"a"), msg(b"b")])
    [a] = broker.receive("q")
    assert a.lock_token
    broker.abandon("q", a.lock_token, {"retried": "yes"})
    [again] = broker.receive("q")
    assert again.body == b"a" and again.delivery_count == 2
    assert again.application_properties["retried"] == "yes"
    assert again.lock_token != a.lock_token


def test_lock_expiry_redelivers_and_the_late_settle_fails_without_losing_the_message(clock: ManualClock) -> None:
    broker = make(clock, lock_duration=timedelta(seconds=30))
    broker.send("q", [msg(b"a")])
    [first] = broker.receive("q")
    assert first.lock_token
    clock.advance(29)
    assert broker.receive("q") == []
    clock.advance(2)
    with pytest.raises(MessageLockLostError, match="lock expired"):
        broker.complete("q", first.lock_token)
    [second] = broker.receive("q")
    assert second.body == b"a" and second.delivery_count == 2


@pytest.mark.parametrize("settle", ["complete", "abandon", "defer", "dead_letter", "renew_lock"])
def test_every_settle_with_an_unknown_token_is_an_error_and_changes_nothing(clock: ManualClock, settle: str) -> None:
    broker = make(clock)
    broker.send("q", [msg(b"a")])
    with pytest.raises(MessageLockLostError, match="unknown"):
        getattr(broker, settle)("q", "00000000-0000-0000-0000-000000000000")
    assert bodies(broker.receive("q")) == [b"a"]


def test_settling_twice_says_already_settled(clock: ManualClock) -> None:
    broker = make(clock)
    broker.send("q", [msg()])
    [m] = broker.receive("q")
    assert m.lock_token
    broker.complete("q", m.lock_token)
    with pytest.raises(MessageLockLostError, match="already settled"):
        broker.complete("q", m.lock_token)


def test_renew_lock_extends_the_lock(clock: ManualClock) -> None:
    broker = make(clock, lock_duration=timedelta(seconds=10))
    broker.send("q", [msg()])
    [m] = broker.receive("q")
    assert m.lock_token
    clock.advance(8)
    until = broker.renew_lock("q", m.lock_token)
    assert until == clock.now() + 10
    clock.advance(8)
    assert broker.receive("q") == []
    broker.complete("q", m.lock_token)


def test_receive_and_delete_removes_at_once(clock: ManualClock) -> None:
    broker = make(clock)
    broker.send("q", [msg(b"a")])
    [m] = broker.receive("q", delete=True)
    assert m.body == b"a" and m.delivery_count == 1
    assert broker.get_queue("q").total_count == 0


# ---------------------------------------------------------------- dead-lettering


def test_max_delivery_count_dead_letters_with_the_reason(clock: ManualClock) -> None:
    broker = make(clock, max_delivery_count=3)
    broker.send("q", [msg(b"poison", message_id="m1")])
    for attempt in range(1, 4):
        [m] = broker.receive("q")
        assert m.delivery_count == attempt and m.lock_token
        broker.abandon("q", m.lock_token)
    assert broker.receive("q") == []
    [dead] = broker.receive(DLQ)
    assert dead.body == b"poison" and dead.message_id == "m1"
    assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"
    assert dead.dead_letter_source == "q"
    assert dead.application_properties["DeadLetterReason"] == "MaxDeliveryCountExceeded"


def test_lock_expiry_also_counts_towards_max_delivery(clock: ManualClock) -> None:
    broker = make(clock, max_delivery_count=2, lock_duration=timedelta(seconds=5))
    broker.send("q", [msg()])
    broker.receive("q")
    clock.advance(6)
    broker.receive("q")
    clock.advance(6)
    assert broker.receive("q") == []
    assert broker.get_queue("q").dead_letter_count == 1


def test_manual_dead_letter_keeps_reason_and_description_and_can_be_resubmitted(clock: ManualClock) -> None:
    broker = make(clock)
    broker.send("q", [msg(b"bad", correlation_id="c1", application_properties={"k": "v"})])
    [m] = broker.receive("q")
    assert m.lock_token
    broker.dead_letter("q", m.lock_token, "ValidationFailed", "field x missing")
    props = broker.get_queue("q")
    assert props.active_count == 0 and props.dead_letter_count == 1
    [dead] = broker.receive(DLQ)
    assert (dead.dead_letter_reason, dead.dead_letter_description) == ("ValidationFailed", "field x missing")
    assert dead.correlation_id == "c1" and dead.application_properties["k"] == "v"
    with pytest.raises(UnsupportedOperationError):
        assert dead.lock_token
        broker.dead_letter(DLQ, dead.lock_token, "again")
    assert dead.lock_token
    broker.send("q", [msg(dead.body, correlation_id=dead.correlation_id)])
    broker.complete(DLQ, dead.lock_token)
    assert bodies(broker.receive("q")) == [b"bad"]
    assert broker.get_queue("q").dead_letter_count == 0


def test_dead_letter_queue_messages_are_peek_locked_and_never_dead_lettered_again(clock: ManualClock) -> None:
    broker = make(clock, max_delivery_count=1)
    broker.send("q", [msg()])
    [m] = broker.receive("q")
    assert m.lock_token
    broker.abandon("q", m.lock_token)
    for _ in range(5):  # far past max delivery count: the dead-letter queue has none
        [dead] = broker.receive(DLQ)
        assert dead.lock_token
        broker.abandon(DLQ, dead.lock_token)
    assert broker.get_queue("q").dead_letter_count == 1


# ---------------------------------------------------------------- TTL, scheduling, dedup, deferral


def test_ttl_expiry_dead_letters_when_the_queue_says_so(clock: ManualClock) -> None:
    broker = make(clock, dead_lettering_on_message_expiration=True)
    broker.send("q", [msg(b"short", time_to_live=10), msg(b"long", time_to_live=100)])
    clock.advance(11)
    assert bodies(broker.receive("q", 5)) == [b"long"]
    [dead] = broker.receive(DLQ)
    assert dead.body == b"short" and dead.dead_letter_reason == "TTLExpiredException"


def test_ttl_expiry_drops_otherwise_and_queue_default_ttl_applies(clock: ManualClock) -> None:
    broker = make(clock, default_message_ttl=timedelta(seconds=5))
    broker.send("q", [msg(b"a")])
    clock.advance(6)
    assert broker.get_queue("q").active_count == 0
    assert broker.receive("q") == [] and broker.get_queue("q").dead_letter_count == 0


def test_a_locked_message_does_not_expire_until_it_is_back_in_the_queue(clock: ManualClock) -> None:
    broker = make(clock, lock_duration=timedelta(seconds=60), dead_lettering_on_message_expiration=True)
    broker.send("q", [msg(time_to_live=10)])
    [m] = broker.receive("q")
    assert m.lock_token
    clock.advance(20)
    broker.complete("q", m.lock_token)  # the holder still finishes its work
    assert broker.get_queue("q").dead_letter_count == 0


def test_scheduled_messages_appear_at_their_time_and_can_be_cancelled(clock: ManualClock) -> None:
    broker = make(clock)
    [later] = broker.schedule("q", [msg(b"later")], clock.now() + 60)
    [never] = broker.schedule("q", [msg(b"never")], clock.now() + 60)
    assert broker.get_queue("q").scheduled_count == 2
    broker.cancel_scheduled("q", [never])
    with pytest.raises(MessageNotFoundError):
        broker.cancel_scheduled("q", [never])
    clock.advance(59)
    assert broker.receive("q") == []
    assert broker.next_due("q") == clock.now() + 1
    clock.advance(1)
    [m] = broker.receive("q")
    assert m.body == b"later" and m.sequence_number == later


def test_duplicate_detection_drops_a_repeated_id_within_the_window(clock: ManualClock) -> None:
    broker = make(clock, duplicate_detection_window=timedelta(minutes=10))
    first = broker.send("q", [msg(b"1", message_id="same")])
    again = broker.send("q", [msg(b"2", message_id="same")])
    assert first == again
    clock.advance(601)
    broker.send("q", [msg(b"3", message_id="same")])
    assert bodies(broker.receive("q", 10)) == [b"1", b"3"]


def test_deferred_messages_come_back_only_by_sequence_number(clock: ManualClock) -> None:
    broker = make(clock)
    broker.send("q", [msg(b"a"), msg(b"b")])
    [a] = broker.receive("q")
    assert a.lock_token
    seq = broker.defer("q", a.lock_token)
    assert broker.get_queue("q").deferred_count == 1
    assert bodies(broker.receive("q", 5)) == [b"b"]
    [back] = broker.receive_deferred("q", [seq])
    assert back.body == b"a" and back.delivery_count == 2 and back.lock_token
    broker.abandon("q", back.lock_token)  # abandoning a deferred message keeps it deferred
    assert broker.get_queue("q").deferred_count == 1
    with pytest.raises(MessageNotFoundError):
        broker.receive_deferred("q", [999])


def test_size_limits(clock: ManualClock) -> None:
    broker = Broker(clock, limits=BrokerLimits(max_message_size=10))
    broker.create_queue("q", QueueOptions(max_size_bytes=15))
    with pytest.raises(MessageTooLargeError) as info:
        broker.send("q", [msg(b"x" * 11)])
    assert (info.value.size, info.value.max_size) == (11, 10)
    broker.send("q", [msg(b"x" * 10)])
    with pytest.raises(QuotaExceededError, match="full"):
        broker.send("q", [msg(b"x" * 6)])


def test_batch_limits_are_engine_settings(clock: ManualClock) -> None:
    broker = Broker(clock, limits=BrokerLimits(max_batch_messages=3))
    broker.create_queue("q")
    with pytest.raises(BatchTooLargeError):
        broker.send("q", [msg()] * 4)
    broker.send("q", [msg()] * 3)
    broker.send("q", [msg()] * 3)
    assert len(broker.receive("q", 100)) == 3  # a larger request gets the limit
    assert len(broker.peek("q", 1, 100)) == 3


def test_a_batch_is_all_or_nothing(clock: ManualClock) -> None:
    broker = Broker(clock, limits=BrokerLimits(max_message_size=10))
    broker.create_queue("q")
    with pytest.raises(MessageTooLargeError):
        broker.send("q", [msg(b"ok"), msg(b"x" * 11)])
    assert broker.get_queue("q").total_count == 0


def test_peek_sees_every_state_in_order_without_locking(clock: ManualClock) -> None:
    broker = make(clock)
    broker.send("q", [msg(b"a"), msg(b"b"), msg(b"c")])
    broker.receive("q")
    peeked = broker.peek("q", 1, 10)
    assert [(m.body, m.state.value) for m in peeked] == [(b"a", "locked"), (b"b", "available"), (b"c", "available")]
    assert bodies(broker.peek("q", 2, 1)) == [b"b"]
    assert bodies(broker.receive("q", 5)) == [b"b", b"c"]


# ---------------------------------------------------------------- sessions


def session_broker(clock: ManualClock, **options: object) -> Broker:
    return make(clock, requires_session=True, **options)


def test_session_queue_rules(clock: ManualClock) -> None:
    broker = session_broker(clock)
    with pytest.raises(SessionRequiredError, match="needs a session id"):
        broker.send("q", [msg()])
    with pytest.raises(SessionRequiredError, match="accept a session"):
        broker.receive("q")
    plain = make(ManualClock())
    with pytest.raises(SessionRequiredError, match="does not have sessions"):
        plain.accept_session("q", "s")


def test_fifo_within_a_session_and_sessions_interleave(clock: ManualClock) -> None:
    broker = session_broker(clock)
    broker.send("q", [msg(f"{s}{i}".encode(), session_id=s) for i in range(3) for s in ("A", "B")])
    a = broker.accept_session("q", "A")
    b = broker.accept_session("q", "B")
    assert a and b
    assert bodies(broker.session_receive("q", "A", a.lock_token, 10)) == [b"A0", b"A1", b"A2"]
    assert bodies(broker.session_receive("q", "B", b.lock_token, 10)) == [b"B0", b"B1", b"B2"]


def test_session_lock_is_exclusive_until_released(clock: ManualClock) -> None:
    broker = session_broker(clock)
    broker.send("q", [msg(session_id="S")])
    lease = broker.accept_session("q", "S")
    assert lease
    with pytest.raises(SessionCannotBeLockedError, match="locked by another receiver"):
        broker.accept_session("q", "S")
    assert broker.accept_session("q", None) is None  # a locked session is not "available"
    broker.release_session("q", "S", lease.lock_token)
    assert broker.accept_session("q", "S") is not None


def test_accept_next_skips_locked_and_empty_sessions_oldest_first(clock: ManualClock) -> None:
    broker = session_broker(clock)
    broker.accept_session("q", "empty")  # held, no messages
    broker.send("q", [msg(session_id="held"), msg(session_id="old"), msg(session_id="new")])
    assert broker.accept_session("q", "held")
    lease = broker.accept_session("q", None)
    assert lease and lease.session_id == "old"
    lease2 = broker.accept_session("q", None)
    assert lease2 and lease2.session_id == "new"
    assert broker.accept_session("q", None) is None


def test_abandon_inside_a_session_keeps_the_order(clock: ManualClock) -> None:
    broker = session_broker(clock)
    broker.send("q", [msg(b"1", session_id="S"), msg(b"2", session_id="S")])
    lease = broker.accept_session("q", "S")
    assert lease
    [first] = broker.session_receive("q", "S", lease.lock_token)
    assert first.lock_token
    broker.abandon("q", first.lock_token)
    got = broker.session_receive("q", "S", lease.lock_token, 5)
    assert bodies(got) == [b"1", b"2"] and got[0].delivery_count == 2


def test_session_lock_expiry_releases_messages_and_renewal_prevents_it(clock: ManualClock) -> None:
    broker = session_broker(clock, lock_duration=timedelta(seconds=30))
    broker.send("q", [msg(b"1", session_id="S")])
    lease = broker.accept_session("q", "S")
    assert lease
    [m] = broker.session_receive("q", "S", lease.lock_token)
    assert m.lock_token and m.locked_until == lease.locked_until
    clock.advance(20)
    assert broker.renew_session_lock("q", "S", lease.lock_token) == clock.now() + 30
    clock.advance(20)
    assert broker.session_locked_until("q", "S", lease.lock_token) > clock.now()
    clock.advance(11)
    with pytest.raises(SessionLockLostError):
        broker.session_receive("q", "S", lease.lock_token)
    with pytest.raises(SessionLockLostError, match="returned to its session"):
        broker.complete("q", m.lock_token)
    other = broker.accept_session("q", None)
    assert other and other.session_id == "S"
    [again] = broker.session_receive("q", "S", other.lock_token)
    assert again.body == b"1" and again.delivery_count == 2


def test_session_state_survives_release_and_belongs_to_the_holder(clock: ManualClock) -> None:
    broker = session_broker(clock)
    lease = broker.accept_session("q", "S")
    assert lease
    assert broker.get_session_state("q", "S", lease.lock_token) is None
    broker.set_session_state("q", "S", lease.lock_token, b"step-2")
    broker.release_session("q", "S", lease.lock_token)
    with pytest.raises(SessionLockLostError):
        broker.get_session_state("q", "S", lease.lock_token)
    lease2 = broker.accept_session("q", "S")
    assert lease2
    assert broker.get_session_state("q", "S", lease2.lock_token) == b"step-2"


def test_release_returns_unsettled_session_messages(clock: ManualClock) -> None:
    broker = session_broker(clock)
    broker.send("q", [msg(b"1", session_id="S")])
    lease = broker.accept_session("q", "S")
    assert lease
    broker.session_receive("q", "S", lease.lock_token)
    broker.release_session("q", "S", lease.lock_token)
    lease2 = broker.accept_session("q", None)
    assert lease2
    assert bodies(broker.session_receive("q", "S", lease2.lock_token)) == [b"1"]


def test_max_delivery_applies_inside_sessions(clock: ManualClock) -> None:
    broker = session_broker(clock, max_delivery_count=2)
    broker.send("q", [msg(session_id="S")])
    lease = broker.accept_session("q", "S")
    assert lease
    for _ in range(2):
        [m] = broker.session_receive("q", "S", lease.lock_token)
        assert m.lock_token
        broker.abandon("q", m.lock_token)
    assert broker.session_receive("q", "S", lease.lock_token) == []
    [dead] = broker.receive(DLQ)
    assert dead.session_id == "S" and dead.dead_letter_reason == "MaxDeliveryCountExceeded"


def test_listeners_hear_about_new_messages(clock: ManualClock) -> None:
    broker = make(clock)
    heard: list[str] = []
    remove = broker.add_listener(heard.append)
    broker.send("q", [msg()])
    [m] = broker.receive("q")
    assert m.lock_token
    broker.abandon("q", m.lock_token)
    remove()
    broker.send("q", [msg()])
    assert heard == ["q", "q"]


def test_a_deep_queue_is_received_from_the_head(clock: ManualClock) -> None:
    """Not a timing test: checks that receiving from a deep queue only touches the head (heap discipline)."""
    broker = make(clock)
    for start in range(0, 50_000, 1000):
        broker.send("q", [msg(str(i).encode()) for i in range(start, start + 1000)])
    got = broker.receive("q", 3)
    assert bodies(got) == [b"0", b"1", b"2"]
    assert broker.get_queue("q").active_count == 49_997


def test_release_returns_a_message_without_counting_the_delivery(clock: ManualClock) -> None:
    broker = make(clock, max_delivery_count=1)
    broker.send("q", [msg(b"a")])
    for _ in range(3):  # max delivery 1, yet releases never dead-letter it
        [m] = broker.receive("q")
        assert m.delivery_count == 1 and m.lock_token
        broker.release("q", m.lock_token)
    assert broker.get_queue("q").dead_letter_count == 0


def test_peek_can_be_limited_to_one_session(clock: ManualClock) -> None:
    broker = session_broker(clock)
    broker.send("q", [msg(f"{s}{i}".encode(), session_id=s) for i in range(3) for s in ("A", "B")])
    assert bodies(broker.peek("q", 1, 2, session_id="B")) == [b"B0", b"B1"]
    assert bodies(broker.peek("q", 4, 10, session_id="A")) == [b"A2"]
