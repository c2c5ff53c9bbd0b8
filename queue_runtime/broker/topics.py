"""Topics and their subscriptions: the publish side of publish/subscribe.

A topic holds no receivable messages: a publish assigns a topic sequence number, applies duplicate detection and
the topic's default TTL, then copies the message into every subscription whose rules match. A message scheduled
for later waits in the topic (a heap, cancellable by its topic sequence number) and fans out when due, so rules
see it as it is at enqueue time. A subscription's messages live in an ordinary :class:`QueueEntity` (with its own
dead-letter queue), so locks, delivery counts, sessions, deferral and TTL are the queue's rules, once.

Rules of a subscription (Service Bus's): all rules without an action together give at most one copy; each
matching rule with an action gives its own copy, with the action applied and ``RuleName`` set to the rule's name.
A filter or action that fails on a message dead-letters that subscription's copy (or skips the subscription, when
``dead_lettering_on_filter_evaluation_exceptions`` is off); other subscriptions are not affected.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .._topics import CorrelationFilter, SubscriptionOptions, TopicOptions
from ..errors import QueueError
from .entity import DEAD_LETTER_SUFFIX, QueueEntity
from .records import BrokerMessage, message_size
from .rules import CompiledRule, Context

if TYPE_CHECKING:
    from .durable import Changes

__all__ = ["FILTER_EXCEPTION_REASON", "SubscriptionEntity", "TopicEntity"]


def _routing_key(subscription: SubscriptionEntity) -> tuple[str, Any] | None:
    if len(subscription.rules) != 1:
        return None
    (rule,) = subscription.rules.values()
    filter_ = rule.properties.filter
    if rule.action is not None or not isinstance(filter_, CorrelationFilter) or not filter_.properties:
        return None
    return next(iter(filter_.properties.items()))

FILTER_EXCEPTION_REASON = "FilterEvaluationException"
COPY_REFUSED_REASON = "SubscriptionRefusedMessage"


class SubscriptionEntity:
    def __init__(
        self, topic: str, name: str, options: SubscriptionOptions, queue: QueueEntity, created_at: float
    ) -> None:
        self.topic = topic
        self.name = name
        self.options = options
        self.queue = queue
        self.created_at = created_at
        # What one front keeps about the entity and the engine never reads (the administration endpoint's
        # stored-not-enforced fields), and when a front last changed the entity.
        self.extensions: dict[str, Any] = {}
        self.updated_at: float | None = None
        self.rules: dict[str, CompiledRule] = {}
        self.rule_created: dict[str, float] = {}

    @property
    def path(self) -> str:
        return self.queue.name

    def select(self, context: Context) -> list[BrokerMessage]:
        """This subscription's copies of the context's message (none if no rule matches). Raises what a filter or
        action raised, so the caller can dead-letter or skip. A copy an action changed has its size recomputed."""
        message = context.message
        plain = False
        copies: list[BrokerMessage] = []
        for rule in self.rules.values():
            if not rule.matches(context):
                continue
            if rule.action is None:
                plain = True
                continue
            copy_ = message.snapshot()
            rule.action(copy_)
            copy_.application_properties["RuleName"] = rule.name
            copy_.size = message_size(copy_)
            copies.append(copy_)
        if plain:
            copies.insert(0, message.snapshot())
        return copies


class TopicEntity:
    def __init__(
        self, name: str, options: TopicOptions, created_at: float, *, changes: Changes | None = None
    ) -> None:
        self.name = name
        self._changes = changes
        self.options = options
        self.created_at = created_at
        # What one front keeps about the entity and the engine never reads (the administration endpoint's
        # stored-not-enforced fields), and when a front last changed the entity.
        self.extensions: dict[str, Any] = {}
        self.updated_at: float | None = None
        self.subscriptions: dict[str, SubscriptionEntity] = {}
        # Routing index: a subscription whose only rule is an action-less correlation filter on application
        # properties is filed under its first (name, value); a publish looks up its own values and evaluates only
        # those candidates and the subscriptions with other rules, instead of every subscription.
        self._general: dict[str, SubscriptionEntity] = {}
        self._routed: dict[str, dict[Any, dict[str, SubscriptionEntity]]] = {}
        self._placement: dict[str, tuple[str, Any]] = {}
        self.sql_rules = 0
        self.correlation_rules = 0
        self._next_sequence = 1
        self._dedup: dict[str, int] = {}
        self._dedup_order: deque[tuple[float, str]] = deque()
        self._scheduled: list[tuple[float, int]] = []
        self._pending: dict[int, BrokerMessage] = {}
        self.pending_bytes = 0

    # ------------------------------------------------------------------ rules bookkeeping

    def index(self, subscription: SubscriptionEntity) -> None:
        """File (or re-file, after its rules changed) a subscription in the routing index."""
        self.unindex(subscription.name)
        key = _routing_key(subscription)
        if key is None:
            self._general[subscription.name] = subscription
            return
        try:
            self._routed.setdefault(key[0], {}).setdefault(key[1], {})[subscription.name] = subscription
        except TypeError:  # an unhashable value: evaluate it the ordinary way
            self._general[subscription.name] = subscription
            return
        self._placement[subscription.name] = key

    def unindex(self, name: str) -> None:
        self._general.pop(name, None)
        key = self._placement.pop(name, None)
        if key is not None:
            by_value = self._routed[key[0]]
            holders = by_value[key[1]]
            holders.pop(name, None)
            if not holders:
                del by_value[key[1]]
                if not by_value:
                    del self._routed[key[0]]

    def _candidates(self, message: BrokerMessage) -> list[SubscriptionEntity]:
        found = list(self._general.values())
        if self._routed:
            user = message.application_properties
            for key, by_value in self._routed.items():
                if key in user:
                    try:
                        holders = by_value.get(user[key])
                    except TypeError:
                        continue
                    if holders:
                        found.extend(holders.values())
        return found

    def count_rule(self, rule: CompiledRule, sign: int) -> None:
        if rule.is_sql:
            self.sql_rules += sign
        elif rule.is_correlation:
            self.correlation_rules += sign

    @property
    def scheduled_count(self) -> int:
        return len(self._pending)

    @property
    def size_bytes(self) -> int:
        return self.pending_bytes + sum(s.queue.size_bytes for s in self.subscriptions.values())

    # ------------------------------------------------------------------ publish

    def accept(self, message: BrokerMessage, now: float) -> tuple[int, bool]:
        """Number the message (duplicate detection at the topic). Returns (sequence number, is new)."""
        window = self.options.duplicate_detection_window
        if window is not None and message.message_id is not None:
            horizon = now - window.total_seconds()
            order = self._dedup_order
            if order and order[0][0] < horizon and self._changes is not None:
                self._changes.forgot(self, horizon)
            while order and order[0][0] < horizon:
                _, old = order.popleft()
                self._dedup.pop(old, None)
            duplicate_of = self._dedup.get(message.message_id)
            if duplicate_of is not None:
                return duplicate_of, False
            self._dedup[message.message_id] = self._next_sequence
            self._dedup_order.append((now, message.message_id))
            if self._changes is not None:
                self._changes.remembered(self, message.message_id, self._next_sequence, now)
        seq = self._next_sequence
        self._next_sequence += 1
        if self._changes is not None:
            self._changes.numbered(self)
        message.sequence_number = seq
        message.enqueued_time = now  # what sys.EnqueuedTimeUtc reads while the rules run
        ttl = self.options.default_message_ttl
        if ttl is not None:
            seconds = ttl.total_seconds()
            if message.time_to_live is None or message.time_to_live > seconds:
                message.time_to_live = seconds
        return seq, True

    def hold(self, message: BrokerMessage) -> None:
        """Keep a message scheduled for later until it is due."""
        assert message.scheduled_enqueue_time is not None
        self._pending[message.sequence_number] = message
        self.pending_bytes += message.size
        heapq.heappush(self._scheduled, (message.scheduled_enqueue_time, message.sequence_number))
        if self._changes is not None:
            self._changes.added(self, message.sequence_number)

    def cancel(self, seq: int) -> bool:
        message = self._pending.pop(seq, None)
        if message is None:
            return False
        self.pending_bytes -= message.size
        if self._changes is not None:
            self._changes.changed(self, seq)
        return True

    def has_pending(self, seq: int) -> bool:
        return seq in self._pending

    def due(self, now: float) -> list[BrokerMessage]:
        ready = []
        heap = self._scheduled
        while heap and heap[0][0] <= now:
            _, seq = heapq.heappop(heap)
            message = self._pending.pop(seq, None)
            if message is not None:
                self.pending_bytes -= message.size
                ready.append(message)
                if self._changes is not None:
                    self._changes.changed(self, seq)
        return ready

    def next_due(self) -> float | None:
        return self._scheduled[0][0] if self._scheduled else None

    # ------------------------------------------------------------------ a data directory

    @property
    def next_sequence(self) -> int:
        return self._next_sequence

    def stored(self, sequence_number: int) -> BrokerMessage | None:
        """A message scheduled at the topic (the live record), or None once it fanned out or was cancelled."""
        return self._pending.get(sequence_number)

    def load(
        self, next_sequence: int, pending: Iterable[BrokerMessage], remembered: Iterable[tuple[str, int, float]]
    ) -> None:
        """Put back what a data directory kept: the sequence counter, scheduled messages, the dedup window."""
        self._next_sequence = next_sequence
        for message_id, seq, at in sorted(remembered, key=lambda entry: entry[2]):
            self._dedup[message_id] = seq
            self._dedup_order.append((at, message_id))
        changes, self._changes = self._changes, None
        for message in pending:
            self.hold(message)
        self._changes = changes

    def fan_out(
        self,
        message: BrokerMessage,
        now: float,
        *,
        max_message_size: int,
        notify: Callable[[str], None],
    ) -> list[str]:
        """Copy ``message`` into every subscription whose rules match it; returns the subscriptions it reached."""
        reached: list[str] = []
        context = CompiledRule.context(message)  # built once: the system properties only if an SQL rule asks
        for subscription in self._candidates(message):
            queue = subscription.queue
            try:
                copies = subscription.select(context)
            except Exception as exc:  # a filter or action failed on this message: never block the others
                if subscription.options.dead_lettering_on_filter_evaluation_exceptions:
                    copy_ = message.snapshot()
                    description = exc.message if isinstance(exc, QueueError) else f"{type(exc).__name__}: {exc}"
                    queue.store_dead_lettered(copy_, now, FILTER_EXCEPTION_REASON, description)
                    notify(queue.name + DEAD_LETTER_SUFFIX)
                continue
            if not copies:
                continue
            for copy_ in copies:
                copy_.sequence_number = 0
                try:
                    queue.check_copy(copy_, max_message_size)
                except QueueError as exc:
                    queue.store_dead_lettered(copy_, now, COPY_REFUSED_REASON, exc.message)
                    notify(queue.name + DEAD_LETTER_SUFFIX)
                    continue
                queue.add(copy_, now)
            reached.append(subscription.name)
            notify(queue.name)
        return reached
