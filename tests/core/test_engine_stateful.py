"""Hypothesis drives the engine with random operations and checks it against a plain model of the rules:
FIFO delivery, peek-lock, lock expiry, delivery counts, max-delivery dead-lettering, and no message ever lost
or duplicated."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from queue_runtime import QueueOptions
from queue_runtime.broker import Broker, BrokerMessage, ManualClock, dead_letter_path
from queue_runtime.errors import MessageLockLostError

LOCK = 10.0
MAX_DELIVERY = 3


@dataclass
class ModelMessage:
    seq: int
    deliveries: int = 0
    token: str | None = None
    locked_until: float = 0.0


@dataclass
class Model:
    available: dict[int, ModelMessage] = field(default_factory=dict)
    locked: dict[str, ModelMessage] = field(default_factory=dict)
    dead: set[int] = field(default_factory=set)
    completed: set[int] = field(default_factory=set)
    stale_tokens: list[str] = field(default_factory=list)

    def release(self, message: ModelMessage) -> None:
        assert message.token is not None
        del self.locked[message.token]
        self.stale_tokens.append(message.token)
        message.token = None
        if message.deliveries >= MAX_DELIVERY:
            self.dead.add(message.seq)
        else:
            self.available[message.seq] = message

    def expire(self, now: float) -> None:
        for message in [m for m in self.locked.values() if m.locked_until <= now]:
            self.release(message)


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(start=1000.0)
        self.broker = Broker(self.clock)
        self.broker.create_queue(
            "q", QueueOptions(lock_duration=timedelta(seconds=LOCK), max_delivery_count=MAX_DELIVERY)
        )
        self.model = Model()
        self.sent = 0

    @rule(count=st.integers(1, 4))
    def send(self, count: int) -> None:
        seqs = self.broker.send("q", [BrokerMessage(body=b"m") for _ in range(count)])
        for seq in seqs:
            self.sent += 1
            assert seq == self.sent
            self.model.available[seq] = ModelMessage(seq)

    @rule(count=st.integers(1, 3))
    def receive(self, count: int) -> None:
        self.model.expire(self.clock.now())
        got = self.broker.receive("q", count)
        expected = sorted(self.model.available)[:count]
        assert [m.sequence_number for m in got] == expected
        for received in got:
            message = self.model.available.pop(received.sequence_number)
            message.deliveries += 1
            assert received.delivery_count == message.deliveries
            assert received.lock_token is not None
            message.token = received.lock_token
            message.locked_until = self.clock.now() + LOCK
            self.model.locked[received.lock_token] = message

    @precondition(lambda self: self.model.locked)
    @rule(data=st.data(), action=st.sampled_from(["complete", "abandon", "dead_letter"]))
    def settle(self, data: st.DataObject, action: str) -> None:
        self.model.expire(self.clock.now())
        if not self.model.locked:
            return
        token = data.draw(st.sampled_from(list(self.model.locked)))  # lock order: tokens are random
        message = self.model.locked[token]
        if action == "complete":
            self.broker.complete("q", token)
            del self.model.locked[token]
            self.model.completed.add(message.seq)
        elif action == "abandon":
            self.broker.abandon("q", token)
            self.model.release(message)
        else:
            self.broker.dead_letter("q", token, "Reason", "why")
            del self.model.locked[token]
            self.model.dead.add(message.seq)
        self.model.stale_tokens.append(token)

    @precondition(lambda self: self.model.stale_tokens)
    @rule(data=st.data())
    def settle_stale(self, data: st.DataObject) -> None:
        token = data.draw(st.sampled_from(self.model.stale_tokens))
        if token in self.model.locked:
            return
        try:
            self.broker.complete("q", token)
        except MessageLockLostError:
            pass
        else:
            raise AssertionError("a stale token settled a message")

    @rule(seconds=st.sampled_from([1.0, 5.0, 9.99, 10.0, 25.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.model.expire(self.clock.now())

    @invariant()
    def nothing_lost_or_duplicated(self) -> None:
        self.model.expire(self.clock.now())
        props = self.broker.get_queue("q")
        assert props.active_count == len(self.model.available)
        assert props.locked_count == len(self.model.locked)
        assert props.dead_letter_count == len(self.model.dead)
        model = self.model
        accounted = len(model.available) + len(model.locked) + len(model.dead) + len(model.completed)
        assert accounted == self.sent
        dead = {m.sequence_number for m in self.broker.peek(dead_letter_path("q"), 1, 10_000)}
        assert len(dead) == len(self.model.dead)


TestEngineAgainstModel = EngineMachine.TestCase
TestEngineAgainstModel.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
