"""The engine's operation journal and idleness, driven directly with a manual clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from queue_runtime import QueueOptions
from queue_runtime.broker import Broker, BrokerMessage, ManualClock, dead_letter_path
from queue_runtime.broker.journal import Journal, JournalKind, acting_client
from queue_runtime.broker.waiting import wait_until_idle
from queue_runtime.errors import MessageLockedError, MessageNotFoundError, ValidationError

K = JournalKind


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_700_000_000.0)


def make(clock: ManualClock, size: int = 1000, **options: object) -> Broker:
    broker = Broker(clock, journal=Journal(size))
    broker.create_queue("q", QueueOptions.model_validate(options))
    return broker


def kinds(broker: Broker, **query: object) -> list[str]:
    return [e.kind.value for e in broker.journal.entries(**query)]  # type: ignore[arg-type]


def test_every_settlement_is_recorded_with_message_identity_and_client(clock: ManualClock) -> None:
    broker = make(clock, max_delivery_count=2)
    with acting_client("rest:req-1"):
        broker.send("q", [BrokerMessage(b"a", message_id="m-a"), BrokerMessage(b"b", message_id="m-b")])
    with acting_client("amqp:conn-7"):
        first, second = broker.receive("q", 2)
        assert first.lock_token and second.lock_token
        broker.complete("q", first.lock_token)
        broker.abandon("q", second.lock_token)
        [again] = broker.receive("q", 1)
        assert again.lock_token
        broker.abandon("q", again.lock_token)  # second delivery: max delivery count reached
    entries = broker.journal.entries()
    assert [(e.kind, e.message_id) for e in entries] == [
        (K.SENT, "m-a"), (K.SENT, "m-b"),
        (K.DELIVERED, "m-a"), (K.DELIVERED, "m-b"),
        (K.COMPLETED, "m-a"), (K.ABANDONED, "m-b"),
        (K.DELIVERED, "m-b"), (K.ABANDONED, "m-b"), (K.DEAD_LETTERED, "m-b"),
    ]
    assert [e.client for e in entries[:2]] == ["rest:req-1", "rest:req-1"]
    assert {e.client for e in entries[2:]} == {"amqp:conn-7"}
    delivered = entries[3]
    assert delivered.sequence_number == 2 and delivered.delivery_count == 1
    assert delivered.locked_until == clock.now() + 30  # the default lock duration
    assert entries[6].delivery_count == 2
    assert entries[-1].reason == "MaxDeliveryCountExceeded" and entries[-1].entity == "q"
    assert all(e.time == clock.now() for e in entries)
    assert [e.id for e in entries] == list(range(1, 10))


def test_defer_dead_letter_schedule_cancel_expire_and_lock_loss(clock: ManualClock) -> None:
    broker = make(clock, lock_duration=timedelta(seconds=30))
    broker.send("q", [BrokerMessage(b"1", message_id="d"), BrokerMessage(b"2", message_id="x"),
                      BrokerMessage(b"3", message_id="lost")])
    d, x, _lost = broker.receive("q", 3)
    assert d.lock_token and x.lock_token
    broker.defer("q", d.lock_token)
    broker.dead_letter("q", x.lock_token, "BadInput", "field 'a' is missing")
    [seq] = broker.schedule("q", [BrokerMessage(b"s", message_id="s")], clock.now() + 100)
    broker.cancel_scheduled("q", [seq])
    broker.send("q", [BrokerMessage(b"t", message_id="ttl", time_to_live=5.0)])
    clock.advance(31)
    broker.tick_all()
    by_id = {(e.message_id, e.kind): e for e in broker.journal.entries()}
    assert (("d", K.DEFERRED) in by_id) and (("s", K.SCHEDULED) in by_id) and (("s", K.CANCELLED) in by_id)
    dead = by_id[("x", K.DEAD_LETTERED)]
    assert (dead.reason, dead.description) == ("BadInput", "field 'a' is missing")
    assert by_id[("lost", K.LOCK_LOST)].reason == "lock expired"
    assert ("ttl", K.EXPIRED) in by_id
    assert kinds(broker, message_id="ttl") == ["sent", "expired"]
    assert kinds(broker, kinds=["deferred", K.CANCELLED]) == ["deferred", "cancelled"]
    assert kinds(broker, since=clock.now()) == ["lock_lost", "expired"]


def test_sessions_are_recorded(clock: ManualClock) -> None:
    broker = make(clock, requires_session=True, lock_duration=timedelta(seconds=10))
    broker.send("q", [BrokerMessage(b"1", session_id="s1", message_id="m1")])
    lease = broker.accept_session("q")
    assert lease is not None
    broker.session_receive("q", "s1", lease.lock_token)
    broker.release_session("q", "s1", lease.lock_token)
    lease = broker.accept_session("q", "s1")
    assert lease is not None
    clock.advance(11)
    broker.tick_all()
    entries = broker.journal.entries()
    assert [e.kind for e in entries] == [
        K.SENT, K.SESSION_ACCEPTED, K.DELIVERED, K.SESSION_RELEASED, K.LOCK_LOST, K.SESSION_ACCEPTED, K.SESSION_LOST,
    ]
    assert {e.session_id for e in entries} == {"s1"}
    assert entries[4].reason == "session released" and entries[4].message_id == "m1"


def test_ring_drops_oldest_and_counts_them(clock: ManualClock) -> None:
    broker = make(clock, size=3)
    broker.send("q", [BrokerMessage(str(i).encode(), message_id=str(i)) for i in range(5)])
    assert [e.message_id for e in broker.journal.entries()] == ["2", "3", "4"]
    assert broker.journal.dropped == 2 and broker.journal.recorded == 5
    assert [e.message_id for e in broker.journal.entries(after_id=4)] == ["4"]
    assert [e.message_id for e in broker.journal.entries(limit=1)] == ["4"]
    broker.reset()
    assert broker.journal.entries() == [] and broker.journal.dropped == 2


def test_disabled_journal_records_nothing(clock: ManualClock) -> None:
    broker = Broker(clock, journal=Journal(enabled=False))
    broker.create_queue("q")
    broker.send("q", [BrokerMessage(b"x")])
    assert broker.journal.entries() == [] and broker.journal.recorded == 0


def test_entity_filter_covers_the_dead_letter_queue_and_ignores_case(clock: ManualClock) -> None:
    broker = make(clock)
    broker.create_queue("q2")
    broker.send("q", [BrokerMessage(b"x")])
    broker.send("q2", [BrokerMessage(b"y")])
    [m] = broker.receive("q")
    assert m.lock_token
    broker.dead_letter("q", m.lock_token, "r")
    [d] = broker.receive(dead_letter_path("q"))
    assert d.lock_token
    broker.complete(dead_letter_path("q"), d.lock_token)
    assert kinds(broker, entity="Q") == ["sent", "delivered", "dead_lettered", "delivered", "completed"]
    assert kinds(broker, entity=dead_letter_path("q")) == ["delivered", "completed"]
    assert kinds(broker, entity=["q2"]) == ["sent"]


def test_resubmit_purge_and_delete(clock: ManualClock) -> None:
    broker = make(clock)
    broker.send("q", [BrokerMessage(b"1", message_id="a"), BrokerMessage(b"2", message_id="b"),
                      BrokerMessage(b"3", message_id="c")])
    for m in broker.receive("q", 3):
        assert m.lock_token
        broker.dead_letter("q", m.lock_token, "Nope", "bad")
    dlq = dead_letter_path("q")
    first = broker.peek(dlq, 1, 10)[0]
    with pytest.raises(MessageNotFoundError):
        broker.resubmit_dead_letters("q", [first.sequence_number, 999])
    assert broker.get_queue("q").dead_letter_count == 3  # all or none
    assert len(broker.resubmit_dead_letters("q", [first.sequence_number])) == 1
    [back] = broker.peek("q", 1, 10)
    assert (back.message_id, back.delivery_count, back.dead_letter_reason) == ("a", 0, None)
    assert "DeadLetterReason" not in back.application_properties
    assert kinds(broker, message_id="a")[-1] == "resubmitted"
    with pytest.raises(ValidationError):
        broker.resubmit_dead_letters(dlq)
    assert len(broker.resubmit_dead_letters("q")) == 2
    assert broker.get_queue("q").active_count == 3 and broker.get_queue("q").dead_letter_count == 0
    [m] = broker.receive("q")
    assert m.lock_token
    with pytest.raises(MessageLockedError, match="locked by a receiver"):
        broker.delete_message("q", m.sequence_number)
    other = broker.peek("q", m.sequence_number + 1, 1)[0]
    broker.delete_message("q", other.sequence_number)
    with pytest.raises(MessageNotFoundError):
        broker.delete_message("q", other.sequence_number)
    assert broker.purge("q") == 2
    assert kinds(broker)[-2:] == ["deleted", "purged"]
    assert broker.journal.entries()[-1].reason == "2 messages"


def test_idle_report_says_what_is_busy(clock: ManualClock) -> None:
    broker = make(clock)
    assert broker.idle_report(["q", "missing"]).idle
    broker.send("q", [BrokerMessage(b"x")])
    assert broker.idle_report(["q"]).busy == {"q": ["1 receivable"]}
    [m] = broker.receive("q")
    assert broker.idle_report(["q"]).describe() == "q: 1 locked (being processed)"
    assert m.lock_token
    broker.complete("q", m.lock_token)
    broker.schedule("q", [BrokerMessage(b"later")], clock.now() + 5)
    assert broker.idle_report(["q"], grace=1).idle
    assert broker.idle_report(["q"], grace=10).busy == {"q": ["a scheduled message is due in 5.000s"]}
    broker.send("q", [BrokerMessage(b"d")])
    [d] = broker.receive("q")
    assert d.lock_token
    broker.defer("q", d.lock_token)
    assert broker.idle_report(["q"]).idle  # a deferred message waits for someone to ask for it


@pytest.mark.asyncio
async def test_wait_until_idle_returns_when_a_consumer_finishes(clock: ManualClock) -> None:
    broker = make(clock)
    broker.send("q", [BrokerMessage(str(i).encode()) for i in range(5)])

    async def consumer() -> None:
        for _ in range(5):
            await asyncio.sleep(0.01)
            [m] = broker.receive("q")
            assert m.lock_token
            broker.complete("q", m.lock_token)

    task = asyncio.create_task(consumer())
    report = await wait_until_idle(broker, ["q"], quiet=0.05, timeout=5)
    assert report.idle and task.done()
    assert kinds(broker, kinds=["completed"]) == ["completed"] * 5


@pytest.mark.asyncio
async def test_wait_until_idle_times_out_naming_what_is_busy(clock: ManualClock) -> None:
    broker = make(clock)
    broker.send("q", [BrokerMessage(b"x")])
    report = await wait_until_idle(broker, ["q"], quiet=0.01, timeout=0.1)
    assert not report.idle and report.busy == {"q": ["1 receivable"]} and report.waited >= 0.1


def test_asking_whether_a_queue_is_idle_never_creates_it(clock: ManualClock) -> None:
    broker = Broker(clock, auto_create=True)
    assert broker.idle_report(["never-made", "never-made/$DeadLetterQueue", "not a valid name"]).idle
    assert broker.queue_names() == []


def test_a_resubmitted_dead_letter_lands_even_inside_the_duplicate_detection_window(clock: ManualClock) -> None:
    broker = Broker(clock)
    broker.create_queue("q", QueueOptions(duplicate_detection_window=timedelta(minutes=10), max_delivery_count=1))
    broker.send("q", [BrokerMessage(b"once", message_id="same-id")])
    [m] = broker.receive("q")
    assert m.lock_token is not None
    broker.dead_letter("q", m.lock_token, "Bad")
    [seq] = broker.resubmit_dead_letters("q")
    [back] = broker.peek("q")
    assert (back.sequence_number, back.body, back.message_id) == (seq, b"once", "same-id")
    assert broker.get_queue("q").dead_letter_count == 0


def test_a_settle_cannot_add_a_property_no_front_could_carry(clock: ManualClock) -> None:
    broker = Broker(clock)
    broker.create_queue("q")
    broker.send("q", [BrokerMessage(b"x")])
    [m] = broker.receive("q")
    assert m.lock_token is not None
    with pytest.raises(ValidationError, match="64-bit"):
        broker.abandon("q", m.lock_token, {"huge": 2**64})
    broker.abandon("q", m.lock_token, {"fine": 2**62})  # the lock was kept: the refused settle changed nothing
    assert broker.peek("q")[0].application_properties == {"fine": 2**62}


def test_a_health_probe_never_creates_a_queue() -> None:
    import asyncio

    from queue_runtime.providers.memory import InMemoryProvider

    provider = InMemoryProvider(broker=Broker(auto_create=True))
    asyncio.run(provider.ping())
    assert provider.broker.queue_names() == []
