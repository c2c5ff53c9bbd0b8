"""Identifier rules, message validation, configuration sources and secret redaction."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from queue_runtime import (
    AwsSqsConfig,
    EmulatorConfig,
    InMemoryConfig,
    Message,
    MessageId,
    QueueConfig,
    QueueName,
    SessionId,
)
from queue_runtime.errors import (
    ConfigurationError,
    QueueError,
    QueueNotFoundError,
    ValidationError,
    error_from_wire,
)


@pytest.mark.parametrize("name", ["a", "orders", "my-queue_2", "A" * 260, "orders.v2", "billing/invoices"])
def test_valid_queue_names(name: str) -> None:
    # Service Bus' entity rule: the widest any provider accepts; each provider then checks its own.
    assert QueueName(name) == name


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", "must not be empty"),
        ("A" * 261, "longer than 260 characters"),
        ("has space", "contains ' ' \\(Service Bus' entity rule"),
        ("caf\u00e9", "contains 'é'"),
        ("100%", "contains '%'"),
        ("-leading", "start and end"),
        ("trailing_", "start and end"),
        ("a//b", "empty path segment"),
    ],
)
def test_invalid_queue_names_name_the_rule(name: str, rule: str) -> None:
    with pytest.raises(ValidationError, match=rule) as info:
        QueueName(name)
    assert info.value.field == "queue_name" and isinstance(info.value, QueueError)


@pytest.mark.parametrize("cls", [SessionId, MessageId])
def test_session_and_message_id_rules(cls: type[SessionId]) -> None:
    assert cls("owner/repo/pr/42") == "owner/repo/pr/42"
    for bad in ["", "x" * 129, "with space", "tab\t", "caf\u00e9"]:
        with pytest.raises(ValidationError):
            cls(bad)


def test_message_validation() -> None:
    assert Message("text").body == b"text"
    with pytest.raises(ValidationError, match="attributes"):
        Message(b"x", attributes={"bad key": "v"})
    with pytest.raises(ValidationError, match="must be a string"):
        Message(b"x", attributes={"k": 1})  # type: ignore[dict-item]
    with pytest.raises(ValidationError, match="time_to_live"):
        Message(b"x", time_to_live=timedelta(0))
    with pytest.raises(ValidationError, match="timezone-aware"):
        Message(b"x", scheduled_enqueue_time=datetime(2030, 1, 1))
    assert "secret" not in repr(Message(b"secret"))


def test_config_from_urls() -> None:
    assert QueueConfig.from_url("memory://?clock=manual").provider == InMemoryConfig(clock="manual")
    emulator = QueueConfig.from_url("emulator://127.0.0.1:9000").provider
    assert isinstance(emulator, EmulatorConfig) and emulator.url == "http://127.0.0.1:9000"
    sqs = QueueConfig.from_url("sqs://eu-west-1?use_fifo_queues=true").provider
    assert isinstance(sqs, AwsSqsConfig) and sqs.region == "eu-west-1" and sqs.use_fifo_queues
    with pytest.raises(ConfigurationError, match="unknown provider URL scheme"):
        QueueConfig.from_url("kafka://x")
    with pytest.raises(ConfigurationError, match="clock"):
        QueueConfig.from_url("memory://?clock=sundial")


def test_config_from_environment() -> None:
    config = QueueConfig.from_env(
        {
            "QUEUE_RUNTIME_URL": "emulator://localhost:8080",
            "QUEUE_RUNTIME_RETRY_MAX_ATTEMPTS": "5",
            "QUEUE_RUNTIME_RETRY_BASE_DELAY": "0.5",
            "QUEUE_RUNTIME_CIRCUIT_FAILURE_THRESHOLD": "9",
            "QUEUE_RUNTIME_TIMEOUT": "12",
        }
    )
    assert isinstance(config.provider, EmulatorConfig)
    assert config.retry.max_attempts == 5 and config.retry.base_delay == timedelta(seconds=0.5)
    assert config.circuit_breaker.failure_threshold == 9 and config.default_timeout == timedelta(seconds=12)
    assert isinstance(QueueConfig.from_env({}).provider, InMemoryConfig)
    with pytest.raises(ConfigurationError, match=r"QUEUE_RUNTIME_RETRY_MAX_ATTEMPTS=.zero.: Input should be"):
        QueueConfig.from_env({"QUEUE_RUNTIME_RETRY_MAX_ATTEMPTS": "zero"})


def test_secrets_never_print() -> None:
    config = QueueConfig(provider=AwsSqsConfig(access_key_id="AKIA1", secret_access_key="wJalrXUtnFEMI"))
    assert "wJalrXUtnFEMI" not in repr(config) and "wJalrXUtnFEMI" not in str(config)
    assert "wJalrXUtnFEMI" not in config.model_dump_json()
    with pytest.raises(ConfigurationError) as info:
        QueueConfig.from_url("sqs://us-east-1?secret_access_key=hunter2&max_receive_count=nope")
    assert "hunter2" not in str(info.value)


def test_errors_rebuild_from_their_wire_form() -> None:
    error = error_from_wire("queue_not_found", "queue 'x' does not exist", details={"queue": "x"})
    assert isinstance(error, QueueNotFoundError) and error.queue == "x" and not error.transient
    unknown = error_from_wire("brand_new_code", "something new", transient=True)
    assert type(unknown).__name__ == "ProviderError" and unknown.transient


def test_a_password_in_an_emulator_url_is_never_shown() -> None:
    import asyncio

    from queue_runtime import EmulatorConfig, QueueConfig
    from queue_runtime.errors import QueueConnectionError
    from queue_runtime.providers.emulator import EmulatorControl, EmulatorProvider

    config = EmulatorConfig(url="http://user:s3cret-pw@127.0.0.1:9")
    shown = [repr(config), str(config), str(config.model_dump()), config.model_dump_json(),
             repr(QueueConfig(provider=config)), QueueConfig(provider=config).model_dump_json()]
    for text in shown:
        assert "s3cret-pw" not in text and "user:***@127.0.0.1:9" in text
    assert config.url == "http://user:s3cret-pw@127.0.0.1:9"  # the provider still gets it
    assert config.model_dump(context={"reveal_secrets": True})["url"] == config.url
    from_url = QueueConfig.from_url("emulator://user:s3cret-pw@127.0.0.1:9")
    assert isinstance(from_url.provider, EmulatorConfig) and from_url.provider.url == config.url
    assert "s3cret-pw" not in repr(from_url)

    provider = EmulatorProvider(config)
    assert "s3cret-pw" not in repr(provider) and "s3cret-pw" not in repr(EmulatorControl(config.url))

    async def unreachable() -> QueueConnectionError:
        try:
            await provider.get_queue("q")  # type: ignore[arg-type]
        except QueueConnectionError as exc:
            return exc
        finally:
            await provider.aclose()
        raise AssertionError("port 9 answered")

    error = asyncio.run(unreachable())
    assert "s3cret-pw" not in str(error) and "s3cret-pw" not in repr(error.details)
