"""Queue names: one rule in the engine for every front, and each provider refuses what its cloud refuses,
saying which rule and why."""

from __future__ import annotations

import pytest

from queue_runtime import AwsSqsConfig, QueueClientFactory, QueueName
from queue_runtime.broker import Broker
from queue_runtime.broker.naming import check_queue_name, servicebus_name_problem, sqs_name_problem
from queue_runtime.errors import ValidationError
from queue_runtime.providers.sqs import SqsProvider

REFUSED_BY_SERVICE_BUS = ["has space", "a%2Fb", "caf\u00e9", "x" * 100_000, "-a", "a.", "a//b", "q$DeadLetterQueue"]


@pytest.mark.parametrize("name", ["orders.v2", "a.b.c", "billing_2024-q1", "x" * 260])
def test_the_engine_accepts_what_service_bus_accepts_without_slashes(name: str) -> None:
    broker = Broker()
    broker.create_queue(name)
    assert broker.has_queue(name)


@pytest.mark.parametrize("name", REFUSED_BY_SERVICE_BUS)
def test_the_engine_refuses_what_service_bus_refuses_saying_which_rule(name: str) -> None:
    with pytest.raises(ValidationError, match="Service Bus' entity rule") as info:
        Broker().create_queue(name)
    assert len(info.value.message) < 400, "a long name is cut in the message"


def test_the_engine_refuses_slashes_and_says_why() -> None:
    assert servicebus_name_problem("billing/invoices") is None  # Service Bus itself takes it
    with pytest.raises(ValidationError, match="contains '/': Service Bus uses it for nested entity paths"):
        check_queue_name("billing/invoices")


def test_auto_create_applies_the_same_rule() -> None:
    broker = Broker(auto_create=True)
    with pytest.raises(ValidationError, match="Service Bus' entity rule"):
        broker.get_queue("has space")
    assert broker.get_queue("orders.v2").name == "orders.v2"
    assert broker.queue_names() == ["orders.v2"]


@pytest.mark.asyncio
async def test_the_memory_provider_holds_dotted_names() -> None:
    async with await QueueClientFactory.create_client("memory://") as client:
        await client.create_queue("orders.v2")
        assert (await client.get_queue("orders.v2")).name == "orders.v2"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("orders.v2", "'.' is valid on Service Bus but not on SQS"),
        ("orders.fifo", "the provider adds '.fifo' itself"),
        ("billing/invoices", "contains '/'"),
    ],
)
def test_sqs_refuses_what_sqs_refuses_saying_which_rule(name: str, why: str) -> None:
    provider = SqsProvider(AwsSqsConfig(region="us-east-1", use_fifo_queues=True))
    with pytest.raises(ValidationError, match="SQS allows 1-80 characters") as info:
        provider.sqs_queue_name(QueueName(name))
    assert why in info.value.message


def test_sqs_rule_counts_the_fifo_suffix() -> None:
    assert sqs_name_problem("a" * 75 + ".fifo") is None
    assert "81 characters" in (sqs_name_problem("a" * 76 + ".fifo") or "")
