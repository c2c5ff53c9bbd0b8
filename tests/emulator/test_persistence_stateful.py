"""Hypothesis drives a broker with a data directory through random operations (queues, sessions, topics, time) and
restarts it at random points: after every restart the engine holds exactly what it held before, apart from what a
restart itself changes (session locks are lost, the same way a lock expiry loses them)."""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from queue_emulator.storage import open_durable_broker

from queue_runtime import QueueOptions
from queue_runtime._topics import (
    CorrelationFilter,
    RuleProperties,
    SqlFilter,
    SqlRuleAction,
    SubscriptionOptions,
    TopicOptions,
)
from queue_runtime.broker import Broker, BrokerMessage, MessageState
from queue_runtime.broker.durable import DurableBroker
from queue_runtime.errors import QueueError

QUEUES = ("plain", "sessions", "dedup")
SESSIONS = ("s1", "s2")
SUBSCRIPTIONS = ("topic/Subscriptions/all", "topic/Subscriptions/red", "topic/Subscriptions/tagged")
# One rule picks the next operation, weighted by repetition: hypothesis then explores long, busy histories.
STEPS = ("send", "receive", "settle", "send", "receive", "settle", "session_work", "session_work", "send",
         "receive", "settle", "advance", "now_and_then", "restart")
RECEIVABLE = ("plain", "dedup", "plain/$DeadLetterQueue", "dedup/$DeadLetterQueue", *SUBSCRIPTIONS)


def snapshot(broker: Broker) -> dict[str, Any]:
    """Every durable fact of the engine, in plain values (what a restart must bring back)."""
    state: dict[str, Any] = {}
    entities = dict(broker._queues)
    for topic in broker._topics.values():
        state[f"topic {topic.name}"] = (
            topic.options, topic.created_at, topic.next_sequence, dict(topic._dedup), topic.extensions,
            topic.updated_at,
            sorted(_message(m) for m in topic._pending.values()),
        )
        for name, sub in topic.subscriptions.items():
            entities[sub.path] = sub.queue
            state[f"rules {sub.path}"] = sorted(
                (rule.properties.model_dump_json(), sub.rule_created[rule_name])
                for rule_name, rule in sub.rules.items()
            )
            state[f"subscription {sub.path}"] = (sub.options, sub.created_at, name, sub.extensions, sub.updated_at)
    for entity in entities.values():
        for holder in (entity, entity.dead_letter):
            assert holder is not None
            state[holder.name] = {
                "options": holder.options,
                "created": holder.created_at,
                "extensions": (holder.extensions, holder.updated_at),
                "next": holder.next_sequence,
                "dedup": dict(holder._dedup),
                "messages": [_message(holder._messages[seq]) for seq in holder._order],
                "counts": dict(holder.counts),
                "size": holder.size_bytes,
                "sessions": sorted(
                    (s.session_id, s.state, s.state_updated_at) for s in holder._sessions.values()
                    if s.state is not None
                ),
                "available": sorted(seq for seq in holder._available
                                    if holder._messages.get(seq) and holder._messages[seq].state.value == "available"),
            }
    return state


def _message(message: BrokerMessage) -> tuple[Any, ...]:
    return (message.sequence_number, message.body, message.message_id, message.session_id, message.state.value,
            message.delivery_count, message.lock_token, message.locked_until, message.enqueued_time,
            message.expires_at, message.deferred, message.dead_letter_reason, message.dead_letter_source,
            message.scheduled_enqueue_time, message.time_to_live, message.size, message.forward_hops,
            sorted(message.application_properties.items(), key=repr), repr(message.extensions))


class PersistenceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="qe-persist-"))
        self.broker: DurableBroker = open_durable_broker(self.directory, manual_clock=True)
        self.tokens: list[tuple[str, str]] = []
        self.leases: dict[tuple[str, str], str] = {}
        self.deferred: list[tuple[str, int]] = []
        self.scheduled: list[tuple[str, int]] = []
        self.restarts = 0

    @initialize()
    def entities(self) -> None:
        b = self.broker
        lock = timedelta(seconds=20)
        b.create_queue("plain", QueueOptions(lock_duration=lock, max_delivery_count=2,
                                             default_message_ttl=timedelta(seconds=300),
                                             dead_lettering_on_message_expiration=True))
        b.create_queue("sessions", QueueOptions(requires_session=True, lock_duration=lock, max_delivery_count=2))
        b.create_queue("dedup", QueueOptions(duplicate_detection_window=timedelta(seconds=60), lock_duration=lock,
                                             forward_dead_lettered_messages_to="plain"))
        b.create_topic("topic", TopicOptions(duplicate_detection_window=timedelta(seconds=60)))
        b.create_subscription("topic", "all", SubscriptionOptions(lock_duration=lock))
        b.create_subscription("topic", "red", SubscriptionOptions(lock_duration=lock),
                              RuleProperties(name="red", filter=CorrelationFilter(properties={"color": "red"})))
        b.create_subscription("topic", "tagged", SubscriptionOptions(lock_duration=lock),
                              RuleProperties(name="tag", filter=SqlFilter(expression="n > 1"),
                                             action=SqlRuleAction(expression="SET tagged = 'yes'")))

    def teardown(self) -> None:
        try:
            self.restart()  # whatever the steps left behind comes back too
        finally:
            self.broker.close()
            shutil.rmtree(self.directory, ignore_errors=True)

    def _try(self, operation: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return operation(*args, **kwargs)
        except QueueError:
            return None

    # ------------------------------------------------------------------ operations

    def send(self, data: st.DataObject) -> None:
        path = data.draw(st.sampled_from((*QUEUES, "topic")))
        count = data.draw(st.integers(1, 3))
        session = data.draw(st.sampled_from(SESSIONS))
        message_id = data.draw(st.sampled_from((None, "a", "b", "c")))
        n = data.draw(st.integers(0, 3))
        color = data.draw(st.sampled_from(("red", "blue")))
        later = data.draw(st.sampled_from((None, None, None, 5.0, 40.0)))
        messages = [
            BrokerMessage(body=f"{path}-{i}".encode(), message_id=message_id, application_properties={"n": n,
                          "color": color, "typed": b"\x00\x01"},
                          session_id=session if path == "sessions" else None,
                          scheduled_enqueue_time=self.broker.clock.now() + later if later else None,
                          time_to_live=30.0 if n == 3 else None)
            for i in range(count)
        ]
        seqs = self._try(self.broker.send, path, messages)
        if seqs and later:
            self.scheduled.extend((path, seq) for seq in seqs)

    def receive(self, data: st.DataObject) -> None:
        count = data.draw(st.integers(1, 3))
        delete = data.draw(st.sampled_from((False, False, False, True)))
        paths = [p for p in RECEIVABLE if self.broker._entity(p).counts[MessageState.AVAILABLE]]
        if not paths:
            return
        path = data.draw(st.sampled_from(paths))
        for message in self._try(self.broker.receive, path, count, delete=delete) or []:
            if message.lock_token is not None:
                self.tokens.append((path, message.lock_token))

    def session_work(self, data: st.DataObject) -> None:
        if not self.leases or data.draw(st.booleans()):
            lease = self._try(self.broker.accept_session, "sessions", data.draw(st.sampled_from((None, *SESSIONS))))
            if lease is None:
                return
            self.leases[("sessions", lease.session_id)] = lease.lock_token
        key = data.draw(st.sampled_from(sorted(self.leases)))
        token = self.leases[key]
        what = data.draw(st.sampled_from(("receive", "state", "clear", "release")))
        if what == "receive":
            for message in self._try(self.broker.session_receive, key[0], key[1], token, 2) or []:
                self.tokens.append((key[0], message.lock_token))
        elif what == "state":
            self._try(self.broker.set_session_state, key[0], key[1], token, data.draw(st.binary(max_size=8)))
        elif what == "clear":
            self._try(self.broker.set_session_state, key[0], key[1], token, None)
        else:
            self._try(self.broker.release_session, key[0], key[1], token)
            del self.leases[key]

    def settle(self, data: st.DataObject) -> None:
        how = data.draw(st.sampled_from(("complete", "abandon", "defer", "dead_letter", "renew", "release")))
        if not self.tokens:
            return
        path, token = self.tokens.pop(data.draw(st.integers(0, len(self.tokens) - 1)))
        b = self.broker
        if how == "complete":
            self._try(b.complete, path, token)
        elif how == "abandon":
            self._try(b.abandon, path, token, {"abandoned": True})
        elif how == "defer":
            seq = self._try(b.defer, path, token, {"deferred": 1})
            if seq is not None:
                self.deferred.append((path, seq))
        elif how == "dead_letter":
            self._try(b.dead_letter, path, token, "Reason", "why", {"dl": 1.5})
        elif how == "renew":
            b.clock.advance(1.0)  # type: ignore[attr-defined]  # so that the deadline moves
            if self._try(b.renew_lock, path, token) is not None:
                self.tokens.append((path, token))
        else:
            self._try(b.release, path, token)

    def now_and_then(self, data: st.DataObject) -> None:
        what = data.draw(st.sampled_from(("deferred", "cancel", "resubmit", "purge", "redefine")))
        if what == "deferred":
            self.deferred_receive(data)
        elif what == "cancel":
            self.cancel(data)
        elif what == "resubmit":
            self.resubmit(data.draw(st.sampled_from(("plain", "dedup", "topic/Subscriptions/red"))))
        elif what == "purge":
            self.purge(data.draw(st.sampled_from(("plain", "dedup/$DeadLetterQueue", "topic/Subscriptions/all"))))
        else:
            self.redefine(data.draw(st.sampled_from(("queue", "topic", "subscription", "rule", "extensions"))))

    def deferred_receive(self, data: st.DataObject) -> None:
        if not self.deferred:
            return
        path, seq = self.deferred.pop(data.draw(st.integers(0, len(self.deferred) - 1)))
        for message in self._try(self.broker.receive_deferred, path, [seq]) or []:
            self.tokens.append((path, message.lock_token))

    def cancel(self, data: st.DataObject) -> None:
        if self.scheduled:
            path, seq = self.scheduled.pop(data.draw(st.integers(0, len(self.scheduled) - 1)))
            self._try(self.broker.cancel_scheduled, path, [seq])

    def advance(self, data: st.DataObject) -> None:
        seconds = data.draw(st.sampled_from((1.0, 1.0, 11.0, 25.0, 70.0)))
        self.broker.clock.advance(seconds)  # type: ignore[attr-defined]

    def resubmit(self, path: str) -> None:
        self._try(self.broker.resubmit_dead_letters, path)

    def purge(self, path: str) -> None:
        self._try(self.broker.purge, path)

    def redefine(self, what: str) -> None:
        b = self.broker
        if what == "queue":
            if b.has_queue("extra"):
                b.delete_queue("extra")
            else:
                b.create_queue("extra", QueueOptions(forward_to="plain"))
                b.send("extra", [BrokerMessage(body=b"forwarded")])
        elif what == "extensions":
            path = ("plain", "topic", "topic/Subscriptions/red")[len(self.tokens) % 3]
            b.set_extensions(path, {"admin": {"UserMetadata": f"<m>{self.restarts}</m>"}}, b.clock.now())
        elif what == "topic":
            if b.has_topic("extra-topic"):
                b.delete_topic("extra-topic")  # its subscriptions and their messages go with it
            else:
                b.create_topic("extra-topic")
                b.create_subscription("extra-topic", "only")
                b.send("extra-topic", [BrokerMessage(body=b"published", message_id="x")])
        elif what == "subscription":
            if "late" in b.subscription_names("topic"):
                b.delete_subscription("topic", "late")
            else:
                b.create_subscription("topic", "late", SubscriptionOptions(requires_session=False))
        elif self._try(b.get_rule, "topic", "red", "blue") is None:
            b.create_rule("topic", "red", RuleProperties(name="blue", filter=SqlFilter(expression="color = 'blue'")))
        else:
            b.delete_rule("topic", "red", "blue")

    @rule(data=st.data(), operation=st.sampled_from(STEPS))
    def step(self, data: st.DataObject, operation: str) -> None:
        if operation == "restart":
            self.restart()
        else:
            getattr(self, operation)(data)

    def restart(self) -> None:
        """Close and open again: the new engine holds what the old one held, once the old one loses its session
        locks the way a restart makes it lose them."""
        old = self.broker
        old.close()
        now = old.clock.now()
        for entity in [*old._queues.values(), *(s.queue for t in old._topics.values()
                                                for s in t.subscriptions.values())]:
            entity.lose_session_locks(now)
        expected = snapshot(old)
        self.broker = open_durable_broker(self.directory, manual_clock=True)
        assert self.broker.clock.now() == now
        assert snapshot(self.broker) == expected
        self.leases.clear()
        self.restarts += 1

    @invariant()
    def counts_add_up(self) -> None:
        for entity in self.broker._queues.values():
            assert sum(entity.counts.values()) == len(entity._messages)


PersistenceMachine.TestCase.settings = settings(
    max_examples=120, stateful_step_count=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestPersistence = PersistenceMachine.TestCase
