"""Session key strategies (spec 1.6 and section L: SK1-SS4, SI4), the send path and the processor's use of them,
and the session lifecycle limits (SL3). Strategy rules are checked on plain messages; the send path and the
processor run on every provider of the run (``--queue-provider``)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from pytest_queue_runtime import QueueNameFactory

from queue_runtime import (
    CompositeKeyStrategy,
    FallbackStrategy,
    GitHubEntityStrategy,
    Message,
    NoOrderingStrategy,
    PayloadField,
    ProcessorOptions,
    QueueClient,
    QueueClientFactory,
    QueueProcessor,
    ReceivedMessage,
    SessionId,
    SessionKeyStrategy,
    SingleFieldStrategy,
    hashed_session_id,
    session_id_from_parts,
)
from queue_runtime.errors import SessionKeyError, ValidationError


def event(payload: dict[str, Any] | None = None, **attributes: str) -> Message:
    return Message(json.dumps(payload or {}).encode(), attributes=attributes)


def pr_event(owner: str = "octo", repo: str = "hello", number: int = 42, **extra: Any) -> dict[str, Any]:
    return {"repository": {"name": repo, "owner": {"login": owner}}, "pull_request": {"number": number}, **extra}


# -- the strategies


def test_single_field_with_and_without_prefix_and_missing_field_SS1() -> None:
    assert SingleFieldStrategy("tenant").session_id(event(tenant="acme")) == SessionId("acme")
    assert SingleFieldStrategy("tenant", prefix="t").session_id(event(tenant="acme")) == "t-acme"
    assert SingleFieldStrategy("tenant").session_id(event(other="x")) is None  # SK1: unknown key -> None
    assert SingleFieldStrategy("tenant").session_id(event(tenant="")) is None
    payload = SingleFieldStrategy(PayloadField("order.id"), prefix="order")
    assert payload.session_id(event({"order": {"id": 7}})) == "order-7"
    assert payload.session_id(event({"order": {"id": None}})) is None
    assert payload.session_id(event({"order": {"id": {"nested": 1}}})) is None
    assert payload.session_id(Message(b"not json")) is None


def test_composite_joins_fields_and_needs_all_of_them_SS2() -> None:
    strategy = CompositeKeyStrategy(["tenant", PayloadField("region")], separator=":")
    assert strategy.session_id(event({"region": "eu"}, tenant="acme")) == "acme:eu"
    assert strategy.session_id(event({}, tenant="acme")) is None
    with pytest.raises(ValidationError):
        CompositeKeyStrategy([])
    with pytest.raises(ValidationError):
        CompositeKeyStrategy("tenant")  # a string is not a list of fields


def test_no_ordering_and_fallback_chains_SS3_SS4() -> None:
    assert NoOrderingStrategy().session_id(event(tenant="acme")) is None
    chain = FallbackStrategy(GitHubEntityStrategy(), SingleFieldStrategy("tenant"), NoOrderingStrategy())
    assert chain.session_id(event(pr_event())) == "octo/hello/pr/42"
    assert chain.session_id(event({}, tenant="acme")) == "acme"
    assert chain.session_id(event({})) is None
    with pytest.raises(ValidationError):
        FallbackStrategy()


def test_same_message_same_key_SG1() -> None:
    strategy = CompositeKeyStrategy(["a", "b"])
    keys = {strategy.session_id(event(a="1", b="2")) for _ in range(5)}
    assert keys == {"1/2"}


def test_github_helper_groups_every_event_of_one_pull_request_SI4() -> None:
    strategy = GitHubEntityStrategy()
    assert strategy.session_id(event(pr_event())) == "octo/hello/pr/42"
    comment_on_pr = {"repository": pr_event()["repository"], "issue": {"number": 42, "pull_request": {"url": "u"}}}
    assert strategy.session_id(event(comment_on_pr)) == "octo/hello/pr/42"
    issue = {"repository": pr_event()["repository"], "issue": {"number": 7}}
    assert strategy.session_id(event(issue)) == "octo/hello/issue/7"
    check = {"repository": pr_event()["repository"], "check_suite": {"pull_requests": [{"number": 42}]}}
    assert strategy.session_id(event(check)) == "octo/hello/pr/42"
    push = {"repository": pr_event()["repository"], "ref": "refs/heads/main"}
    assert strategy.session_id(event(push)) is None
    assert session_id_from_parts("octo", "hello", "pr", 42) == SessionId("octo/hello/pr/42")


def test_invalid_keys_raise_typed_errors_never_a_silently_invalid_id_SG2() -> None:
    """The seed returned None silently (SG2) and from_parts skipped validation (SI4): here an invalid key is a
    SessionKeyError, or, when asked for, a deterministic valid hashed id."""
    long_repo = "r" * 120
    with pytest.raises(SessionKeyError) as caught:
        GitHubEntityStrategy().session_id(event(pr_event(repo=long_repo)))
    assert caught.value.code == "session_key_invalid" and "128" in caught.value.message
    assert long_repo not in caught.value.message  # message content is not echoed
    with pytest.raises(SessionKeyError):
        SingleFieldStrategy("user").session_id(event(user="John Smith"))  # a space
    with pytest.raises(SessionKeyError):
        session_id_from_parts("octo", "hello", "pr", "4 2")
    hashed = GitHubEntityStrategy(on_invalid="hash").session_id(event(pr_event(repo=long_repo)))
    assert hashed is not None and len(hashed) <= 128
    assert hashed == GitHubEntityStrategy(on_invalid="hash").session_id(event(pr_event(repo=long_repo)))
    assert hashed != GitHubEntityStrategy(on_invalid="hash").session_id(event(pr_event(repo=long_repo + "x")))
    assert hashed_session_id("John Smith").startswith("JohnSmith~")
    assert SessionId(hashed_session_id("\u00e9t\u00e9 " * 100))  # valid whatever goes in
    with pytest.raises(ValidationError):
        SingleFieldStrategy("user", on_invalid="drop")  # type: ignore[arg-type]


def test_apply_keeps_an_explicit_session_id() -> None:
    strategy = SingleFieldStrategy("tenant")
    explicit = Message(b"x", attributes={"tenant": "acme"}, session_id=SessionId("mine"))
    assert strategy.apply(explicit).session_id == "mine"
    derived = strategy.apply(Message(b"x", attributes={"tenant": "acme"}, message_id=None))
    assert derived.session_id == "acme" and derived.attributes == {"tenant": "acme"}


def test_a_custom_strategy_is_a_subclass() -> None:
    class Upper(SessionKeyStrategy):
        def session_id(self, message: Any) -> SessionId | None:
            value = message.attributes.get("k")
            return SessionId(value.upper()) if value else None

    assert Upper().apply(event(k="abc")).session_id == "ABC"


# -- through the providers


@pytest.mark.asyncio
async def test_send_path_derives_session_ids_on_every_provider(
    queue_client: QueueClient, queue_name_factory: QueueNameFactory
) -> None:
    queue = await queue_name_factory(requires_session=True)
    strategy = FallbackStrategy(GitHubEntityStrategy(), SingleFieldStrategy("tenant", prefix="tenant"))
    await queue_client.send_messages(
        queue,
        [event(pr_event(number=1)), event({}, tenant="acme"), event(pr_event(number=1, action="closed"))],
        session_keys=strategy,
    )
    with pytest.raises(SessionKeyError):
        await queue_client.send_message(queue, event(pr_event(repo="x" * 125)), session_keys=strategy)
    bodies: dict[str, int] = {}
    for _ in range(2):
        async with await queue_client.accept_session(queue, timeout=5) as session:
            found = []
            while batch := await session.receive_messages(10, timeout=1):
                found.extend(batch)
            for message in found:
                await session.complete_message(message)
            bodies[session.session_id] = len(found)
    assert bodies == {"octo/hello/pr/1": 2, "tenant-acme": 1}


@pytest.mark.asyncio
async def test_client_wide_strategy_is_said_once() -> None:
    async with await QueueClientFactory.create_client("memory://", session_keys=SingleFieldStrategy("tenant")) as c:
        await c.create_queue("q", requires_session=True)
        await c.send_message("q", event(tenant="acme"))
        async with await c.accept_session("q", timeout=1) as session:
            assert session.session_id == "acme"


@pytest.mark.asyncio
async def test_processor_orders_by_key_on_a_queue_without_sessions() -> None:
    """Same key: one at a time, in order; different keys: side by side (SG3: no key means concurrent)."""
    async with await QueueClientFactory.create_client("memory://", session_keys=SingleFieldStrategy("order")) as c:
        await c.create_queue("events")
        for step in range(4):
            for order in ("a", "b", "c"):
                await c.send_message("events", event({"step": step}, order=order))
        seen: dict[str, list[int]] = {}
        active: set[str] = set()
        overlap: list[int] = []

        async def handler(message: ReceivedMessage) -> None:
            order = message.attributes["order"]
            assert order not in active, "two handlers on one key"
            active.add(order)
            overlap.append(len(active))
            await asyncio.sleep(0.01)
            seen.setdefault(order, []).append(message.json()["step"])
            active.discard(order)

        options = ProcessorOptions(max_concurrency=3, receive_timeout=timedelta(seconds=0.05))
        processor = QueueProcessor(c, "events", handler, options)
        async with processor:
            async with asyncio.timeout(5):
                while processor.completed < 12:  # noqa: ASYNC110 - polling the processor's counter
                    await asyncio.sleep(0.01)
        assert seen == {order: [0, 1, 2, 3] for order in ("a", "b", "c")}
        assert max(overlap) > 1


@pytest.mark.asyncio
async def test_a_session_at_its_message_limit_is_released_so_others_progress_SL3(
    queue_client: QueueClient, queue_name_factory: QueueNameFactory
) -> None:
    """One worker, a busy session and a waiting one: with max_messages_per_session=2 the worker lets go of the
    busy session after two messages and the waiting session is handled before the busy one finishes."""
    queue = await queue_name_factory(requires_session=True)
    await queue_client.send_messages(queue, [Message(f"busy-{i}", session_id=SessionId("busy")) for i in range(6)])
    await queue_client.send_message(queue, Message(b"other-0", session_id=SessionId("other")))
    order: list[str] = []

    async def handler(message: ReceivedMessage) -> None:
        order.append(message.text())

    options = ProcessorOptions(
        max_messages_per_session=2, receive_timeout=timedelta(seconds=1), session_idle_timeout=timedelta(seconds=1)
    )
    processor = QueueProcessor(queue_client, queue, handler, options)
    async with processor:
        async with asyncio.timeout(60):
            while processor.completed < 7:  # noqa: ASYNC110 - polling the processor's counter
                await asyncio.sleep(0.02)
    busy = [body for body in order if body.startswith("busy")]
    assert busy == [f"busy-{i}" for i in range(6)]  # still in order
    assert order.index("other-0") < order.index("busy-5"), order
    assert processor.sessions_released_at_limit >= 1


@pytest.mark.asyncio
async def test_a_session_at_its_duration_limit_is_released_SL3() -> None:
    async with await QueueClientFactory.create_client("memory://") as c:
        await c.create_queue("s", requires_session=True)
        await c.send_messages("s", [Message(f"busy-{i}", session_id=SessionId("busy")) for i in range(4)])
        await c.send_message("s", Message(b"other", session_id=SessionId("other")))
        order: list[str] = []

        async def handler(message: ReceivedMessage) -> None:
            order.append(message.text())
            await asyncio.sleep(0.06)

        options = ProcessorOptions(
            max_session_duration=timedelta(seconds=0.1),
            max_messages_per_session=None,
            receive_timeout=timedelta(seconds=0.05),
            session_idle_timeout=timedelta(seconds=0.05),
        )
        processor = QueueProcessor(c, "s", handler, options)
        async with processor:
            async with asyncio.timeout(5):
                while processor.completed < 5:  # noqa: ASYNC110 - polling the processor's counter
                    await asyncio.sleep(0.01)
        assert order.index("other") < order.index("busy-3"), order


def test_processor_options_are_validated() -> None:
    with pytest.raises(ValidationError):
        ProcessorOptions(max_messages_per_session=0)
    with pytest.raises(ValidationError):
        ProcessorOptions(max_session_duration=timedelta(0))
    with pytest.raises(ValidationError):
        ProcessorOptions(session_keys="tenant")  # type: ignore[arg-type]
