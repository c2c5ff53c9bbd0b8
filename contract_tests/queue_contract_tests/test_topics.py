"""Publish/subscribe: fan-out, each filter kind, actions, ``$Default``, rule replacement, a subscription's
dead-letter queue and max delivery, sessions on a subscription, auto-forwarding and its hop limit, bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from pytest_queue_runtime import QueueNameFactory, unique_queue_name

from queue_runtime import (
    CorrelationFilter,
    FalseFilter,
    QueueClient,
    RuleProperties,
    SqlFilter,
    SqlRuleAction,
    SubscriptionName,
    TrueFilter,
)
from queue_runtime.errors import (
    QueueError,
    QueueNotFoundError,
    SubscriptionNotFoundError,
    ValidationError,
)

from ._helpers import SHORT, WAIT, msg, receive_all, receive_one

pytestmark = [pytest.mark.asyncio, pytest.mark.requires_capability("topics")]

TopicFactory = Callable[..., Awaitable[str]]


@pytest_asyncio.fixture(loop_scope="function")
async def topic_factory(queue_client: QueueClient, request: pytest.FixtureRequest) -> AsyncIterator[TopicFactory]:
    made: list[str] = []

    async def make(**settings: Any) -> str:
        name = unique_queue_name(request.node.name, prefix="t")
        await queue_client.create_topic(name, **settings)
        made.append(name)
        return name

    yield make
    for name in reversed(made):
        try:
            await queue_client.delete_topic(name)
        except QueueNotFoundError:
            pass


@pytest_asyncio.fixture(loop_scope="function")
async def topic(topic_factory: TopicFactory) -> str:
    return await topic_factory()


async def _bodies(client: QueueClient, entity: str, count: int, *, dead_letter: bool = False) -> list[bytes]:
    found = await receive_all(client, entity, count, dead_letter=dead_letter)
    for message in found:
        await client.complete_message(message)
    return sorted(m.body for m in found)


async def test_fan_out_to_every_matching_subscription(queue_client: QueueClient, topic: str) -> None:
    a, b, none = SubscriptionName(topic, "a"), SubscriptionName(topic, "b"), SubscriptionName(topic, "none")
    await queue_client.create_subscription(a)
    await queue_client.create_subscription(b)
    await queue_client.create_subscription(none, rule=RuleProperties(name="nothing", filter=FalseFilter()))
    await queue_client.send_messages(topic, [msg("1"), msg("2")])
    first_a = await receive_one(queue_client, a)
    first_b = await receive_one(queue_client, b)
    assert first_a.body == first_b.body == b"1"
    await queue_client.abandon_message(first_b)  # settling one copy leaves the other alone
    await queue_client.complete_message(first_a)
    assert await _bodies(queue_client, a, 1) == [b"2"]
    assert await _bodies(queue_client, b, 2) == [b"1", b"2"]
    assert await queue_client.receive_messages(none, 1, timeout=SHORT) == []
    listed = {s.name for s in await queue_client.list_subscriptions(topic)}
    assert listed == {"a", "b", "none"}
    assert (await queue_client.get_topic(topic)).subscription_count == 3


async def test_default_rule_and_rule_replacement(queue_client: QueueClient, topic: str) -> None:
    sub = SubscriptionName(topic, "s")
    await queue_client.create_subscription(sub)
    rules = await queue_client.list_rules(sub)
    assert [(r.name, r.filter) for r in rules] == [("$Default", TrueFilter())]
    await queue_client.update_rule(sub, "$Default", CorrelationFilter(correlation_id="keep"))
    await queue_client.send_messages(topic, [msg("kept", correlation_id="keep"), msg("dropped")])
    assert await _bodies(queue_client, sub, 2) == [b"kept"]
    await queue_client.delete_rule(sub, "$Default")
    await queue_client.send_message(topic, msg("no rule"))
    assert await queue_client.receive_messages(sub, 1, timeout=SHORT) == []


async def test_correlation_filter(queue_client: QueueClient, topic: str) -> None:
    sub = SubscriptionName(topic, "eu")
    await queue_client.create_subscription(
        sub,
        rule=RuleProperties(
            name="eu-orders", filter=CorrelationFilter(correlation_id="order", properties={"region": "eu"})
        ),
    )
    await queue_client.send_messages(
        topic,
        [
            msg("match", correlation_id="order", attributes={"region": "eu"}),
            msg("other-region", correlation_id="order", attributes={"region": "us"}),
            msg("no-correlation", attributes={"region": "eu"}),
        ],
    )
    assert await _bodies(queue_client, sub, 3) == [b"match"]


async def test_correlation_filter_on_subject(queue_client: QueueClient, topic: str) -> None:
    sub = SubscriptionName(topic, "invoices")
    await queue_client.create_subscription(
        sub, rule=RuleProperties(name="invoices", filter=CorrelationFilter(subject="invoice"))
    )
    await queue_client.send_messages(topic, [msg("i", subject="invoice"), msg("r", subject="receipt"), msg("none")])
    found = await receive_all(queue_client, sub, 3)
    assert [(m.body, m.subject) for m in found] == [(b"i", "invoice")]
    await queue_client.complete_message(found[0])


async def test_sql_filter_and_action(queue_client: QueueClient, topic: str) -> None:
    sub = SubscriptionName(topic, "red")
    await queue_client.create_subscription(
        sub,
        rule=RuleProperties(
            name="red-ones",
            filter=SqlFilter(expression="color = 'red' AND size IN ('S', 'M')"),
            action=SqlRuleAction(expression="SET routed = 'yes'; REMOVE internal"),
        ),
    )
    await queue_client.send_messages(
        topic,
        [
            msg("red-s", attributes={"color": "red", "size": "S", "internal": "x"}),
            msg("red-xl", attributes={"color": "red", "size": "XL"}),
            msg("blue", attributes={"color": "blue", "size": "S"}),
            msg("no-color"),
        ],
    )
    found = await receive_all(queue_client, sub, 4)
    assert [m.body for m in found] == [b"red-s"]
    assert found[0].attributes["routed"] == "yes"
    assert found[0].attributes["RuleName"] == "red-ones"
    assert "internal" not in found[0].attributes
    await queue_client.complete_message(found[0])


async def test_several_rules_one_copy_unless_the_rule_has_an_action(queue_client: QueueClient, topic: str) -> None:
    sub = SubscriptionName(topic, "s")
    await queue_client.create_subscription(sub)
    await queue_client.create_rule(sub, "also-true", TrueFilter())
    await queue_client.create_rule(sub, "tag", TrueFilter(), SqlRuleAction(expression="SET tagged = 'y'"))
    await queue_client.send_message(topic, msg("m"))
    found = await receive_all(queue_client, sub, 3)
    assert len(found) == 2
    assert sorted(m.attributes.get("tagged", "-") for m in found) == ["-", "y"]


async def test_peek_and_defer_on_a_subscription(queue_client: QueueClient, topic: str) -> None:
    if not (queue_client.capabilities.peek and queue_client.capabilities.deferral):
        pytest.skip("needs peek and deferral")
    sub = SubscriptionName(topic, "s")
    await queue_client.create_subscription(sub)
    await queue_client.send_messages(topic, [msg("1"), msg("2")])
    peeked = await queue_client.peek_messages(sub, 5)
    assert [m.body for m in peeked] == [b"1", b"2"]
    first = await receive_one(queue_client, sub)
    seq = await queue_client.defer_message(first)
    (again,) = await queue_client.receive_deferred_messages(sub, [seq])
    assert again.body == b"1"
    await queue_client.complete_message(again)


async def test_subscription_dead_letter_and_max_delivery(queue_client: QueueClient, topic: str) -> None:
    sub = SubscriptionName(topic, "s")
    await queue_client.create_subscription(sub, max_delivery_count=2)
    await queue_client.send_messages(topic, [msg("poison"), msg("rejected")])
    for _ in range(2):
        message = await receive_one(queue_client, sub)
        assert message.body == b"poison"
        await queue_client.abandon_message(message)
    rejected = await receive_one(queue_client, sub)
    await queue_client.dead_letter_message(rejected, "Invalid", "explicitly rejected")
    dead = await receive_all(queue_client, sub, 2, dead_letter=True)
    reasons = {m.body: m.dead_letter_reason for m in dead}
    assert reasons == {b"poison": "MaxDeliveryCountExceeded", b"rejected": "Invalid"}
    for message in dead:
        await queue_client.complete_message(message)
    props = await queue_client.get_subscription(sub)
    assert props.dead_letter_count == 0 and props.total_count == 0


@pytest.mark.requires_capability("sessions")
async def test_sessions_on_a_subscription(queue_client: QueueClient, topic: str) -> None:
    sub = SubscriptionName(topic, "s")
    await queue_client.create_subscription(sub, requires_session=True)
    await queue_client.send_messages(
        topic, [msg("a1", session_id="a"), msg("b1", session_id="b"), msg("a2", session_id="a")]
    )
    async with await queue_client.accept_session(sub, timeout=WAIT) as session:
        first = session.session_id
        got = await session.receive_messages(5, timeout=WAIT)
        assert [m.body.decode()[0] for m in got] == [first] * len(got)
        for message in got:
            await session.complete_message(message)
        if queue_client.capabilities.session_state:
            await session.set_session_state(b"done")
            assert await session.get_session_state() == b"done"
    async with await queue_client.accept_session(sub, timeout=WAIT) as session:
        assert session.session_id != first
        got = await session.receive_messages(5, timeout=WAIT)
        assert len(got) >= 1
        for message in got:
            await session.complete_message(message)


async def test_forwarding_keeps_properties(
    queue_client: QueueClient, topic: str, queue_name_factory: QueueNameFactory
) -> None:
    sink = await queue_name_factory()
    sub = SubscriptionName(topic, "to-sink")
    await queue_client.create_subscription(sub, forward_to=sink)
    await queue_client.send_message(topic, msg("m", message_id="id-7", correlation_id="c", attributes={"k": "v"}))
    forwarded = await receive_one(queue_client, sink)
    assert (forwarded.body, forwarded.message_id, forwarded.correlation_id) == (b"m", "id-7", "c")
    assert forwarded.attributes["k"] == "v"
    await queue_client.complete_message(forwarded)
    assert await queue_client.receive_messages(sub, 1, timeout=SHORT) == []


async def test_a_queue_forwards_to_a_topic(
    queue_client: QueueClient, topic: str, queue_name_factory: QueueNameFactory
) -> None:
    sub = SubscriptionName(topic, "s")
    await queue_client.create_subscription(sub)
    inbox = await queue_name_factory(forward_to=topic)
    await queue_client.send_message(inbox, msg("via the inbox", attributes={"k": "v"}))
    forwarded = await receive_one(queue_client, sub)
    assert (forwarded.body, forwarded.attributes["k"]) == (b"via the inbox", "v")
    await queue_client.complete_message(forwarded)
    assert await queue_client.receive_messages(inbox, 1, timeout=SHORT) == []
    with pytest.raises(QueueNotFoundError):
        await queue_client.create_queue(unique_queue_name("forward", prefix="q"), forward_to="no-such-entity-here")


async def test_a_forwarding_loop_between_queues_set_by_update(
    queue_client: QueueClient, queue_name_factory: QueueNameFactory
) -> None:
    first = await queue_name_factory()
    second = await queue_name_factory(forward_to=first)
    with pytest.raises(QueueNotFoundError):  # a missing target is refused on update too; nothing changes
        await queue_client.update_queue(first, forward_to="no-such-entity-here")
    assert (await queue_client.get_queue(first)).options.forward_to is None
    await queue_client.update_queue(first, forward_to=second)
    await queue_client.send_message(first, msg("ping-pong"))
    dead = await receive_all(queue_client, first, 1, dead_letter=True) + await receive_all(
        queue_client, second, 1, dead_letter=True
    )
    assert [(m.body, m.dead_letter_reason) for m in dead] == [(b"ping-pong", "MaxTransferHopCountExceeded")]
    await queue_client.complete_message(dead[0])
    await queue_client.update_queue(first, forward_to=None)  # break the loop so the queues can go


async def test_forwarding_loop_stops_at_the_hop_limit(queue_client: QueueClient, topic: str) -> None:
    loop = SubscriptionName(topic, "loop")
    await queue_client.create_subscription(loop, forward_to=topic)  # every copy goes back to the topic
    await queue_client.send_message(topic, msg("round and round"))
    dead = await receive_one(queue_client, loop, dead_letter=True)
    assert dead.body == b"round and round"
    assert dead.dead_letter_reason == "MaxTransferHopCountExceeded"
    await queue_client.complete_message(dead)


async def test_bad_input_is_refused_and_nothing_is_lost(
    queue_client: QueueClient, topic: str, queue_name_factory: QueueNameFactory
) -> None:
    sub = SubscriptionName(topic, "s")
    await queue_client.create_subscription(sub)
    await queue_client.send_message(topic, msg("kept"))
    with pytest.raises(ValidationError) as bad_sql:
        await queue_client.create_rule(sub, "broken", SqlFilter(expression="color = = 'red'"))
    assert "broken" not in {r.name for r in await queue_client.list_rules(sub)}
    assert bad_sql.value.message
    with pytest.raises(ValidationError):
        await queue_client.create_subscription(f"{topic}/Subscriptions/a/b")
    with pytest.raises(ValidationError):
        SubscriptionName(topic, "a/b")
    with pytest.raises(SubscriptionNotFoundError):
        await queue_client.create_rule(SubscriptionName(topic, "missing"), "r", TrueFilter())
    with pytest.raises(QueueNotFoundError):
        await queue_client.create_subscription(SubscriptionName(topic, "f"), forward_to="no-such-entity-here")
    with pytest.raises(QueueError):
        await queue_client.send_message(sub, msg("to a subscription"))
    with pytest.raises(QueueError):  # a topic holds no messages (Service Bus: amqp:not-allowed, a ProviderError)
        await queue_client.receive_messages(topic, 1, timeout=SHORT)
    assert await _bodies(queue_client, sub, 1) == [b"kept"]
