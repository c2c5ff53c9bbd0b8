"""Topics, subscriptions, rules and auto-forwarding in the broker engine, driven with a manual clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from queue_runtime import QueueOptions
from queue_runtime._topics import (
    CorrelationFilter,
    FalseFilter,
    RuleProperties,
    SqlFilter,
    SqlRuleAction,
    SubscriptionOptions,
    TopicOptions,
    TrueFilter,
)
from queue_runtime.broker import (
    HOP_LIMIT_REASON,
    Broker,
    BrokerLimits,
    BrokerMessage,
    ManualClock,
    dead_letter_path,
    subscription_path,
)
from queue_runtime.errors import (
    MessageNotFoundError,
    QueueAlreadyExistsError,
    QueueError,
    QueueNotFoundError,
    QuotaExceededError,
    RuleAlreadyExistsError,
    RuleNotFoundError,
    SessionRequiredError,
    SubscriptionAlreadyExistsError,
    SubscriptionNotFoundError,
    TopicNotFoundError,
    UnsupportedOperationError,
    ValidationError,
)

A = subscription_path("t", "a")
B = subscription_path("t", "b")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_700_000_000.0)


@pytest.fixture
def broker(clock: ManualClock) -> Broker:
    broker = Broker(clock)
    broker.create_topic("t")
    return broker


def msg(body: bytes = b"x", **fields: object) -> BrokerMessage:
    return BrokerMessage(body=body, **fields)  # type: ignore[arg-type]


def bodies(broker: Broker, path: str, count: int = 100) -> list[bytes]:
    return [m.body for m in broker.receive(path, count, delete=True)]


def test_fan_out_gives_each_subscription_its_own_copy(broker: Broker) -> None:
    broker.create_subscription("t", "a")
    broker.create_subscription("t", "b")
    broker.send("t", [msg(b"1"), msg(b"2")])
    got_a = broker.receive(A, 10)
    got_b = broker.receive(B, 10)
    assert [m.body for m in got_a] == [b"1", b"2"] == [m.body for m in got_b]
    assert [m.sequence_number for m in got_a] == [1, 2]
    assert {m.lock_token for m in got_a}.isdisjoint({m.lock_token for m in got_b})
    broker.complete(A, got_a[0].lock_token or "")
    broker.abandon(B, got_b[0].lock_token or "")
    assert broker.get_subscription("t", "a").locked_count == 1
    again = broker.receive(B, 1)
    assert again[0].body == b"1" and again[0].delivery_count == 2


def test_topic_holds_no_messages_and_cannot_be_received_from(broker: Broker) -> None:
    broker.send("t", [msg()])  # no subscription: the message goes nowhere, the send succeeds
    with pytest.raises(UnsupportedOperationError, match="topic"):
        broker.receive("t")
    assert broker.get_topic("t").subscription_count == 0


def test_default_rule_is_a_true_filter_and_its_own_rule_replaces_it(broker: Broker) -> None:
    broker.create_subscription("t", "a")
    assert [(r.name, r.filter) for r in broker.rules("t", "a")] == [("$Default", TrueFilter())]
    broker.create_subscription("t", "b", rule=RuleProperties(name="red", filter=CorrelationFilter(subject="red")))
    assert [r.name for r in broker.rules("t", "b")] == ["red"]
    broker.send("t", [msg(b"r", subject="red"), msg(b"g", subject="green")])
    assert bodies(broker, A) == [b"r", b"g"]
    assert bodies(broker, B) == [b"r"]


def test_correlation_filter_needs_every_given_field(broker: Broker) -> None:
    broker.create_subscription(
        "t",
        "a",
        rule=RuleProperties(
            name="c", filter=CorrelationFilter(correlation_id="42", content_type="json", properties={"n": 1})
        ),
    )
    broker.send(
        "t",
        [
            msg(b"all", correlation_id="42", content_type="json", application_properties={"n": 1}),
            msg(b"no-prop", correlation_id="42", content_type="json"),
            msg(b"wrong-prop", correlation_id="42", content_type="json", application_properties={"n": 2}),
            msg(b"no-type", correlation_id="42", application_properties={"n": 1}),
        ],
    )
    assert bodies(broker, A) == [b"all"]


def test_false_filter_and_rule_replacement(broker: Broker) -> None:
    broker.create_subscription("t", "a", rule=RuleProperties(name="r", filter=FalseFilter()))
    broker.send("t", [msg(b"1")])
    broker.update_rule("t", "a", RuleProperties(name="r", filter=TrueFilter()))
    broker.send("t", [msg(b"2")])
    assert bodies(broker, A) == [b"2"]
    broker.delete_rule("t", "a", "r")
    broker.send("t", [msg(b"3")])
    assert bodies(broker, A) == []
    with pytest.raises(RuleNotFoundError):
        broker.delete_rule("t", "a", "r")


def test_rules_without_action_give_one_copy_each_action_rule_its_own(broker: Broker) -> None:
    broker.create_subscription("t", "a", rule=RuleProperties(name="p1"))
    broker.create_rule("t", "a", RuleProperties(name="p2", filter=CorrelationFilter(subject="s")))
    broker.create_rule(
        "t", "a", RuleProperties(name="act", filter=TrueFilter(), action=SqlRuleAction(expression="SET tagged = 1"))
    )
    broker.send("t", [msg(b"m", subject="s")])
    got = broker.receive(A, 10, delete=True)
    assert len(got) == 2
    plain, acted = got
    assert "tagged" not in plain.application_properties
    assert acted.application_properties["tagged"] == 1
    assert acted.application_properties["RuleName"] == "act"


def test_sql_filter_and_action(broker: Broker) -> None:
    broker.create_subscription(
        "t",
        "a",
        rule=RuleProperties(
            name="big",
            filter=SqlFilter(expression="quantity > @min AND sys.label LIKE 'ord%'", parameters={"@min": 10}),
            action=SqlRuleAction(expression="SET sys.label = 'big-order'; REMOVE secret"),
        ),
    )
    broker.send(
        "t",
        [
            msg(b"yes", subject="order", application_properties={"quantity": 11, "secret": "s"}),
            msg(b"small", subject="order", application_properties={"quantity": 3}),
            msg(b"missing"),  # unknown properties: the filter is unknown, not an error
        ],
    )
    got = broker.receive(A, 10, delete=True)
    assert [m.body for m in got] == [b"yes"]
    assert got[0].subject == "big-order"
    assert "secret" not in got[0].application_properties
    assert broker.get_subscription("t", "a").dead_letter_count == 0


def test_malformed_sql_is_refused_at_rule_creation(broker: Broker) -> None:
    broker.create_subscription("t", "a")
    with pytest.raises(ValidationError):
        broker.create_rule("t", "a", RuleProperties(name="bad", filter=SqlFilter(expression="color = = 'x'")))
    with pytest.raises(ValidationError):
        broker.create_subscription("t", "b", rule=RuleProperties(filter=SqlFilter(expression="AND")))
    assert broker.subscription_names("t") == ["a"]
    assert [r.name for r in broker.rules("t", "a")] == ["$Default"]


def test_filter_evaluation_error_dead_letters_only_that_copy(broker: Broker) -> None:
    broker.create_subscription("t", "ok")
    broker.create_subscription("t", "dl", rule=RuleProperties(filter=SqlFilter(expression="n / 0 = 1")))
    broker.create_subscription(
        "t",
        "skip",
        SubscriptionOptions(dead_lettering_on_filter_evaluation_exceptions=False),
        rule=RuleProperties(filter=SqlFilter(expression="n / 0 = 1")),
    )
    broker.send("t", [msg(b"m", application_properties={"n": 1})])
    assert bodies(broker, subscription_path("t", "ok")) == [b"m"]
    dead = broker.receive(dead_letter_path(subscription_path("t", "dl")), 10, delete=True)
    assert [m.body for m in dead] == [b"m"]
    assert dead[0].dead_letter_reason == "FilterEvaluationException"
    assert broker.get_subscription("t", "skip").dead_letter_count == 0
    assert broker.get_subscription("t", "skip").active_count == 0


def test_subscription_has_queue_semantics(broker: Broker, clock: ManualClock) -> None:
    broker.create_subscription(
        "t",
        "a",
        SubscriptionOptions(
            max_delivery_count=2,
            lock_duration=timedelta(seconds=5),
            default_message_ttl=timedelta(seconds=60),
            dead_lettering_on_message_expiration=True,
        ),
    )
    broker.send("t", [msg(b"poison"), msg(b"old")])
    first = broker.receive(A, 1)
    broker.abandon(A, first[0].lock_token or "")
    second = broker.receive(A, 1)
    assert second[0].body == b"poison"
    clock.advance(6)  # lock lost on the second delivery: max delivery reached
    clock.advance(60)  # "old" expires
    dead = broker.receive(dead_letter_path(A), 10, delete=True)
    assert sorted((m.body, m.dead_letter_reason) for m in dead) == [
        (b"old", "TTLExpiredException"),
        (b"poison", "MaxDeliveryCountExceeded"),
    ]
    broker.send("t", [msg(b"d")])
    got = broker.receive(A, 1)
    seq = broker.defer(A, got[0].lock_token or "")
    assert broker.receive(A, 1) == []
    assert [m.body for m in broker.receive_deferred(A, [seq])] == [b"d"]


def test_scheduled_messages_wait_in_the_topic(broker: Broker, clock: ManualClock) -> None:
    broker.create_subscription("t", "a")
    now = clock.now()
    keep, cancel = broker.schedule("t", [msg(b"later"), msg(b"cancelled")], now + 30)
    broker.cancel_scheduled("t", [cancel])
    assert broker.get_topic("t").scheduled_count == 1
    with pytest.raises(MessageNotFoundError):
        broker.cancel_scheduled("t", [cancel])
    assert broker.receive(A, 10) == []
    clock.advance(31)
    assert bodies(broker, A) == [b"later"]
    assert keep == 1


def test_duplicate_detection_and_ttl_at_the_topic(clock: ManualClock) -> None:
    broker = Broker(clock)
    broker.create_topic(
        "t", TopicOptions(duplicate_detection_window=timedelta(minutes=1), default_message_ttl=timedelta(seconds=10))
    )
    broker.create_subscription("t", "a", SubscriptionOptions(dead_lettering_on_message_expiration=True))
    first = broker.send("t", [msg(b"1", message_id="m")])
    again = broker.send("t", [msg(b"1", message_id="m")])
    assert first == again
    assert broker.get_subscription("t", "a").active_count == 1
    clock.advance(11)
    assert [m.dead_letter_reason for m in broker.receive(dead_letter_path(A), 5)] == ["TTLExpiredException"]


def test_sessions_on_a_subscription(broker: Broker) -> None:
    broker.create_subscription("t", "s", SubscriptionOptions(requires_session=True))
    path = subscription_path("t", "s")
    broker.send("t", [msg(b"1", session_id="x"), msg(b"2", session_id="y"), msg(b"3", session_id="x")])
    lease = broker.accept_session(path)
    assert lease is not None and lease.session_id == "x"
    got = broker.session_receive(path, "x", lease.lock_token, 10)
    assert [m.body for m in got] == [b"1", b"3"]
    broker.set_session_state(path, "x", lease.lock_token, b"state")
    assert broker.get_session_state(path, "x", lease.lock_token) == b"state"
    assert {s.session_id for s in broker.sessions(path)} == {"x", "y"}
    # a copy without a session id cannot live in a session subscription: dead-lettered there, not lost
    broker.send("t", [msg(b"no-session")])
    dead = broker.receive(dead_letter_path(path), 5)
    assert [m.body for m in dead] == [b"no-session"]
    with pytest.raises(SessionRequiredError):
        broker.receive(path)


def test_management_errors(broker: Broker) -> None:
    broker.create_subscription("t", "a")
    with pytest.raises(SubscriptionAlreadyExistsError):
        broker.create_subscription("t", "a")
    with pytest.raises(ValidationError, match="'/'"):
        broker.create_subscription("t", "a/b")
    with pytest.raises(TopicNotFoundError):
        broker.create_subscription("nope", "a")
    with pytest.raises(SubscriptionNotFoundError):
        broker.create_rule("t", "missing", RuleProperties(name="r"))
    with pytest.raises(RuleAlreadyExistsError):
        broker.create_rule("t", "a", RuleProperties(name="$Default"))
    with pytest.raises(QueueAlreadyExistsError):
        broker.create_queue("t")
    with pytest.raises(QueueAlreadyExistsError):
        broker.create_topic("t")
    with pytest.raises(SubscriptionNotFoundError):
        broker.receive(subscription_path("t", "missing"))
    # the path's segment is case-insensitive, as on Service Bus
    broker.send("t", [msg(b"x")])
    assert bodies(broker, "t/subscriptions/a") == [b"x"]
    broker.delete_subscription("t", "a")
    assert broker.subscription_names("t") == []
    broker.delete_topic("t")
    with pytest.raises(TopicNotFoundError):
        broker.get_topic("t")


def test_limits_are_settings(clock: ManualClock) -> None:
    broker = Broker(
        clock, limits=BrokerLimits(max_subscriptions_per_topic=2, max_sql_filters_per_topic=1,
                                   max_correlation_filters_per_topic=1)
    )
    broker.create_topic("t")
    broker.create_subscription("t", "a", rule=RuleProperties(filter=SqlFilter(expression="1=1")))
    broker.create_subscription("t", "b", rule=RuleProperties(filter=CorrelationFilter(subject="x")))
    with pytest.raises(QuotaExceededError):
        broker.create_subscription("t", "c")
    with pytest.raises(QuotaExceededError, match="SQL"):
        broker.create_rule("t", "a", RuleProperties(name="s2", filter=SqlFilter(expression="2=2")))
    with pytest.raises(QuotaExceededError, match="correlation"):
        broker.create_rule("t", "b", RuleProperties(name="c2", filter=CorrelationFilter(subject="y")))
    broker.delete_subscription("t", "a")  # frees its SQL filter
    broker.create_rule("t", "b", RuleProperties(name="s2", filter=SqlFilter(expression="2=2")))
    defaults = BrokerLimits()
    assert defaults.max_subscriptions_per_topic >= 2000
    assert defaults.max_sql_filters_per_topic >= 2000
    assert defaults.max_correlation_filters_per_topic >= 100_000


def test_topic_max_size(clock: ManualClock) -> None:
    broker = Broker(clock)
    broker.create_topic("t", TopicOptions(max_size_bytes=10))
    broker.create_subscription("t", "a")
    broker.send("t", [msg(b"12345678")])
    with pytest.raises(QuotaExceededError):
        broker.send("t", [msg(b"12345678")])
    assert broker.get_subscription("t", "a").active_count == 1


# ---------------------------------------------------------------------- auto-forwarding


def test_forward_to_queue_and_topic_keeps_properties(broker: Broker) -> None:
    broker.create_queue("sink")
    broker.create_subscription("t", "fan")
    broker.create_queue("in", QueueOptions(forward_to="t"))
    broker.create_subscription("t", "to-sink", SubscriptionOptions(forward_to="sink"))
    broker.send("in", [msg(b"m", message_id="id-1", subject="s", application_properties={"k": "v"})])
    assert broker.get_queue("in").active_count == 0
    assert bodies(broker, subscription_path("t", "fan")) == [b"m"]
    got = broker.receive("sink", 1, delete=True)
    assert got[0].message_id == "id-1" and got[0].subject == "s" and got[0].application_properties == {"k": "v"}
    assert got[0].delivery_count == 1


def test_forward_dead_lettered_messages(broker: Broker) -> None:
    broker.create_queue("graveyard")
    broker.create_queue("q", QueueOptions(forward_dead_lettered_messages_to="graveyard"))
    broker.send("q", [msg(b"bad")])
    got = broker.receive("q", 1)
    broker.dead_letter("q", got[0].lock_token or "", "Broken", "why")
    assert broker.get_queue("q").dead_letter_count == 0
    moved = broker.receive("graveyard", 1, delete=True)
    assert moved[0].body == b"bad" and moved[0].application_properties["DeadLetterReason"] == "Broken"


def test_forwarding_loop_ends_in_dead_letter_after_hop_limit(broker: Broker) -> None:
    broker.create_queue("x")
    broker.create_queue("y", QueueOptions(forward_to="x"))
    broker.update_queue("x", QueueOptions(forward_to="y"))
    broker.send("x", [msg(b"loop")])
    dead = broker.receive(dead_letter_path("x"), 5) + broker.receive(dead_letter_path("y"), 5)
    assert [m.body for m in dead] == [b"loop"]
    assert dead[0].dead_letter_reason == HOP_LIMIT_REASON
    assert dead[0].forward_hops == BrokerLimits().max_forward_hops == 4


def test_forward_target_must_exist(broker: Broker) -> None:
    with pytest.raises(QueueNotFoundError):
        broker.create_queue("q", QueueOptions(forward_to="missing"))
    assert not broker.has_queue("q")
    broker.create_queue("q")
    with pytest.raises(QueueNotFoundError):
        broker.update_queue("q", QueueOptions(forward_dead_lettered_messages_to="missing"))
    with pytest.raises(QueueNotFoundError):
        broker.create_subscription("t", "a", SubscriptionOptions(forward_to="missing"))
    with pytest.raises(ValidationError):
        broker.create_queue("self", QueueOptions(forward_to="self"))


def test_forward_to_deleted_target_dead_letters_with_reason(broker: Broker) -> None:
    broker.create_queue("sink")
    broker.create_queue("q", QueueOptions(forward_to="sink"))
    broker.delete_queue("sink")
    broker.send("q", [msg(b"m")])
    dead = broker.receive(dead_letter_path("q"), 1)
    assert dead[0].dead_letter_reason == "ForwardingFailed" and "sink" in (dead[0].dead_letter_description or "")


def test_bad_input_is_a_queue_error_and_nothing_is_lost(broker: Broker) -> None:
    broker.create_subscription("t", "a")
    broker.send("t", [msg(b"kept")])
    for call in (
        lambda: broker.create_rule("t", "a", RuleProperties(name="x", filter=SqlFilter(expression="("))),
        lambda: broker.create_subscription("t", ""),
        lambda: broker.get_rule("t", "a", "nope"),
    ):
        with pytest.raises(QueueError):
            call()
    assert bodies(broker, A) == [b"kept"]


def test_routing_index_gives_the_same_answers_as_evaluating_every_rule(broker: Broker) -> None:
    def route(name: str, **properties: object) -> None:
        rule = RuleProperties(name="r", filter=CorrelationFilter(properties=properties))
        broker.create_subscription("t", name, rule=rule)

    route("eu", region="eu")
    route("us-gold", region="us", tier="gold")
    route("odd", region=["not", "hashable"])
    broker.create_subscription("t", "all")
    broker.send("t", [
        msg(b"1", application_properties={"region": "eu"}),
        msg(b"2", application_properties={"region": "us", "tier": "silver"}),
        msg(b"3", application_properties={"region": "us", "tier": "gold"}),
        msg(b"4", application_properties={"region": b"bytes"}),
    ])
    got = {name: bodies(broker, subscription_path("t", name)) for name in ("eu", "us-gold", "odd", "all")}
    assert got == {"eu": [b"1"], "us-gold": [b"3"], "odd": [], "all": [b"1", b"2", b"3", b"4"]}
    # re-filed when its rules change
    broker.update_rule("t", "eu", RuleProperties(name="r", filter=CorrelationFilter(properties={"region": "us"})))
    broker.create_rule("t", "us-gold", RuleProperties(name="also", filter=CorrelationFilter(subject="vip")))
    broker.send("t", [msg(b"5", application_properties={"region": "eu"}), msg(b"6", subject="vip",
                                                                         application_properties={"region": "us"})])
    assert bodies(broker, subscription_path("t", "eu")) == [b"6"]
    assert bodies(broker, subscription_path("t", "us-gold")) == [b"6"]
    broker.delete_subscription("t", "eu")
    broker.send("t", [msg(b"7", application_properties={"region": "us"})])
    assert bodies(broker, subscription_path("t", "all")) == [b"5", b"6", b"7"]


def test_subscription_paths_are_never_queue_names(clock: ManualClock) -> None:
    broker = Broker(clock, auto_create=True)
    with pytest.raises(ValidationError):
        broker.create_queue("t/Subscriptions/s")
    with pytest.raises(TopicNotFoundError):  # auto-create makes queues, never a fake subscription
        broker.receive("missing/Subscriptions/s")
    assert broker.queue_names() == []


def test_sql_filters_see_system_properties_as_published(broker: Broker, clock: ManualClock) -> None:
    expression = "sys.SequenceNumber > 1 AND sys.EnqueuedTimeUtc = @now AND sys.MessageId = 'm2'"
    rule = RuleProperties(filter=SqlFilter(expression=expression, parameters={"@now": clock.now()}))
    broker.create_subscription("t", "a", rule=rule)
    broker.send("t", [msg(b"1", message_id="m2"), msg(b"2", message_id="m2"), msg(b"3", message_id="x")])
    assert bodies(broker, A) == [b"2"]


def test_the_journal_names_the_subscriptions_a_publish_reached_and_each_forward(broker: Broker) -> None:
    broker.create_queue("archive")
    broker.create_subscription("t", "a")
    broker.create_subscription("t", "b", rule=RuleProperties(name="none", filter=FalseFilter()))
    broker.update_subscription("t", "a", SubscriptionOptions(forward_to="archive"))
    broker.send("t", [msg(b"1", message_id="m-1")])
    published = broker.journal.entries(entity="t", kinds=["published"])
    assert [(e.message_id, e.reason) for e in published] == [("m-1", "a")]  # b's rule matched nothing
    forwarded = broker.journal.entries(kinds=["forwarded"])
    assert [(e.entity, e.reason) for e in forwarded] == [(A, "archive")]
    assert bodies(broker, "archive") == [b"1"]
