"""Provisioning, names, capabilities, configuration and error mapping of the SQS provider."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError
from sqs_support import SECRET, MakeProvider, make_queue, sqs_config, unique_name

from queue_runtime import AwsSqsConfig, Message, QueueName, QueueOptions, TopicOptions
from queue_runtime.errors import (
    AuthenticationError,
    AuthorizationError,
    BatchTooLargeError,
    ConfigurationError,
    MessageLockLostError,
    OperationTimeoutError,
    ProviderError,
    QueueAlreadyExistsError,
    QueueConnectionError,
    QueueError,
    QueueNotFoundError,
    QuotaExceededError,
    ServiceUnavailableError,
    ThrottledError,
    UnsupportedOperationError,
    ValidationError,
)
from queue_runtime.ports import SessionSupport
from queue_runtime.providers import create_provider
from queue_runtime.providers.sqs import SqsProvider, map_exceptions, wait_time_seconds

ZERO = timedelta(0)


def test_capabilities(make_provider: MakeProvider) -> None:
    standard = make_provider().capabilities
    assert (standard.provider, standard.sessions, standard.max_batch_size) == ("sqs", SessionSupport.NONE, 10)
    assert standard.max_message_size == (1024 * 1024 - 4096) * 3 // 4
    assert standard.dead_letter and standard.scheduling and standard.lock_renewal and standard.ttl
    assert not (standard.peek or standard.deferral or standard.clock_control or standard.duplicate_detection)
    fifo = make_provider(fifo=True).capabilities
    assert fifo.sessions is SessionSupport.EMULATED and fifo.duplicate_detection and not fifo.scheduling
    assert not (fifo.session_state or fifo.session_accept_specific)


def test_names_map_to_sqs_names(make_provider: MakeProvider) -> None:
    provider = make_provider(fifo=True, queue_name_prefix="dev-", dead_letter_queue_suffix="-dead")
    assert provider.sqs_queue_name(QueueName("orders")) == "dev-orders.fifo"
    assert provider.sqs_queue_name(QueueName("orders"), dead_letter=True) == "dev-orders-dead.fifo"
    with pytest.raises(ValidationError) as caught:
        provider.sqs_queue_name(QueueName("o" * 72))  # 4 + 72 + 5 = 81
    assert "81 characters" in caught.value.rule and "at most 80" in caught.value.rule
    assert "'.fifo'" in caught.value.rule


@pytest.mark.asyncio
async def test_a_dead_letter_name_over_the_limit_fails_before_anything_is_created(
    standard: SqsProvider,
) -> None:
    name = QueueName("q" * 78)  # fits; with "-dlq" it does not
    with pytest.raises(ValidationError) as caught:
        await standard.create_queue(name, QueueOptions())
    assert "dead-letter queue" in caught.value.rule
    with pytest.raises(QueueNotFoundError):
        await standard.get_queue(name)


@pytest.mark.asyncio
async def test_create_get_delete(standard: SqsProvider, raw_sqs: Any) -> None:
    options = QueueOptions(
        lock_duration=timedelta(seconds=45),
        max_delivery_count=3,
        default_message_ttl=timedelta(hours=1),
        dead_lettering_on_message_expiration=True,
    )
    name = unique_name()
    created = await standard.create_queue(name, options)
    assert created.name == name and created.options == options
    url = (await raw_sqs.get_queue_url(QueueName=standard.sqs_queue_name(name)))["QueueUrl"]
    attrs = (await raw_sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))["Attributes"]
    assert attrs["VisibilityTimeout"] == "45" and attrs["MessageRetentionPeriod"] == "1209600"
    policy = json.loads(attrs["RedrivePolicy"])
    assert int(policy["maxReceiveCount"]) == 3
    assert policy["deadLetterTargetArn"].endswith(":" + standard.sqs_queue_name(name, dead_letter=True))
    fetched = await standard.get_queue(name)
    assert fetched.options == options
    await standard.send_messages(name, [Message(b"1"), Message(b"2")])
    await standard.receive_messages(name, 1, timedelta(seconds=1))
    counts = await standard.get_queue(name)
    assert (counts.active_count, counts.locked_count, counts.total_count) == (1, 1, 2)
    with pytest.raises(QueueAlreadyExistsError):
        await standard.create_queue(name, options)
    await standard.delete_queue(name)
    with pytest.raises(QueueNotFoundError):
        await standard.get_queue(name)
    with pytest.raises(ClientError):  # the DLQ went with it
        await raw_sqs.get_queue_url(QueueName=standard.sqs_queue_name(name, dead_letter=True))
    with pytest.raises(QueueNotFoundError):
        await standard.delete_queue(name)


@pytest.mark.asyncio
async def test_config_defaults_apply_when_options_leave_them_out(make_provider: MakeProvider) -> None:
    provider = make_provider(visibility_timeout=timedelta(seconds=7), max_receive_count=4)
    name = await make_queue(provider)
    options = (await provider.get_queue(name)).options
    assert (options.lock_duration, options.max_delivery_count) == (timedelta(seconds=7), 4)


@pytest.mark.asyncio
async def test_missing_queues(standard: SqsProvider) -> None:
    missing = unique_name()
    with pytest.raises(QueueNotFoundError) as caught:
        await standard.send_messages(missing, [Message(b"x")])
    assert caught.value.queue == missing
    with pytest.raises(QueueNotFoundError):
        await standard.receive_messages(missing, 1, ZERO)


@pytest.mark.asyncio
async def test_a_queue_deleted_behind_our_back_is_reported_missing(
    standard: SqsProvider, raw_sqs: Any
) -> None:
    name = await make_queue(standard)
    await standard.send_messages(name, [Message(b"x")])  # the URL is cached now
    url = (await raw_sqs.get_queue_url(QueueName=standard.sqs_queue_name(name)))["QueueUrl"]
    await raw_sqs.delete_queue(QueueUrl=url)
    with pytest.raises(QueueNotFoundError):
        await standard.send_messages(name, [Message(b"x")])


@pytest.mark.asyncio
async def test_what_needs_fifo_is_refused_on_standard_queues(standard: SqsProvider) -> None:
    with pytest.raises(UnsupportedOperationError, match="use_fifo_queues"):
        await standard.create_queue(unique_name(), QueueOptions(requires_session=True))
    with pytest.raises(UnsupportedOperationError, match="use_fifo_queues"):
        await standard.create_queue(
            unique_name(), QueueOptions(duplicate_detection_window=timedelta(minutes=5))
        )
    with pytest.raises(ValidationError, match="1000"):
        await standard.create_queue(unique_name(), QueueOptions(max_delivery_count=1001))


@pytest.mark.asyncio
async def test_auto_forwarding_and_topics_are_refused(standard: SqsProvider) -> None:
    assert standard.capabilities.topics is False
    with pytest.raises(UnsupportedOperationError, match="forwarding"):
        await standard.create_queue(unique_name(), QueueOptions(forward_to="elsewhere"))
    with pytest.raises(UnsupportedOperationError, match="topics"):
        await standard.create_topic(QueueName("t"), TopicOptions())


@pytest.mark.asyncio
async def test_the_registry_builds_it(moto_endpoint: str) -> None:
    provider = await create_provider(sqs_config(moto_endpoint))
    assert isinstance(provider, SqsProvider)
    connected = await SqsProvider.connect(sqs_config(moto_endpoint))
    await provider.aclose()
    await connected.aclose()


@pytest.mark.parametrize(
    ("remaining", "expected"),
    [(-1, 0), (0, 0), (0.001, 0), (0.5, 0), (1.0, 1), (1.2, 1), (19.5, 19), (75, 20)],
)
def test_wait_time_rounds_down_and_caps_at_twenty(remaining: float, expected: int) -> None:
    assert wait_time_seconds(remaining) == expected


def test_config_is_checked() -> None:
    with pytest.raises(ConfigurationError):
        SqsProvider(AwsSqsConfig(queue_name_prefix="bad prefix"))
    with pytest.raises(ConfigurationError):
        SqsProvider(AwsSqsConfig(access_key_id="AKIA"))  # a key without its secret
    with pytest.raises(ConfigurationError):
        SqsProvider(AwsSqsConfig(dead_letter_queue_suffix=""))


# ---------------------------------------------------------------------------------------- errors and secrets


def client_error(
    code: str, status: int = 400, message: str = "text", query_code: str | None = None
) -> ClientError:
    error: dict[str, Any] = {"Code": code, "Message": message}
    if query_code:
        error["QueryErrorCode"] = query_code
    return ClientError(
        {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "r"}}, "Op"
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("AWS.SimpleQueueService.NonExistentQueue", 400, QueueNotFoundError),
        ("QueueDoesNotExist", 400, QueueNotFoundError),
        ("QueueNameExists", 400, QueueAlreadyExistsError),
        ("ReceiptHandleIsInvalid", 400, MessageLockLostError),
        ("AWS.SimpleQueueService.MessageNotInflight", 400, MessageLockLostError),
        ("ThrottlingException", 400, ThrottledError),
        ("RequestThrottled", 403, ThrottledError),
        ("OverLimit", 403, QuotaExceededError),
        ("InvalidClientTokenId", 403, AuthenticationError),
        ("SignatureDoesNotMatch", 403, AuthenticationError),
        ("ExpiredToken", 400, AuthenticationError),
        ("AccessDenied", 403, AuthorizationError),
        ("KmsAccessDenied", 400, AuthorizationError),
        ("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400, BatchTooLargeError),
        ("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400, ValidationError),
        ("InvalidMessageContents", 400, ValidationError),
        ("AWS.SimpleQueueService.QueueDeletedRecently", 400, ServiceUnavailableError),
        ("SomethingNew", 503, ServiceUnavailableError),
        ("SomethingNew", 429, ThrottledError),
        ("SomethingNew", 400, ProviderError),
    ],
)
def test_aws_error_codes_map_to_our_errors(code: str, status: int, expected: type[QueueError]) -> None:
    with pytest.raises(expected) as caught, map_exceptions("send", "orders"):
        raise client_error(code, status)
    assert isinstance(caught.value.__cause__, ClientError)
    assert caught.value.details.get("aws_code", code) == code


def test_transient_errors_are_marked_transient() -> None:
    for code in ("ThrottlingException", "InternalError"):
        with pytest.raises(QueueError) as caught, map_exceptions("send", "q"):
            raise client_error(code, 500)
        assert caught.value.transient
    with pytest.raises(QueueError) as caught, map_exceptions("send", "q"):
        raise client_error("AccessDenied", 403)
    assert not caught.value.transient


def test_the_query_error_code_is_understood_and_operation_codes_win() -> None:
    with pytest.raises(QueueNotFoundError), map_exceptions("send", "q"):
        raise client_error("SomeJsonName", 400, query_code="AWS.SimpleQueueService.NonExistentQueue")
    with (
        pytest.raises(MessageLockLostError),
        map_exceptions("complete", "q", {"InvalidParameterValue": MessageLockLostError}),
    ):
        raise client_error("InvalidParameterValue")
    with pytest.raises(ValidationError), map_exceptions("send", "q"):
        raise client_error("InvalidParameterValue")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (NoCredentialsError(), AuthenticationError),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), QueueConnectionError),
        (ReadTimeoutError(endpoint_url="http://x"), OperationTimeoutError),
    ],
)
def test_botocore_exceptions_map_most_specific_first(exc: Exception, expected: type[QueueError]) -> None:
    with pytest.raises(expected), map_exceptions("receive", "q"):
        raise exc


def test_errors_never_carry_aws_text_for_credentials() -> None:
    with pytest.raises(AuthenticationError) as caught, map_exceptions("send", "q"):
        raise client_error("SignatureDoesNotMatch", 403, message=f"canonical string ... {SECRET}")
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value.details)


def test_repr_never_shows_secrets(moto_endpoint: str) -> None:
    provider = SqsProvider(sqs_config(moto_endpoint, session_token="token-" + SECRET))
    assert SECRET not in repr(provider) and "explicit" in repr(provider)
    with_userinfo = SqsProvider(AwsSqsConfig(endpoint_url=f"http://user:{SECRET}@127.0.0.1:9"))
    assert SECRET not in repr(with_userinfo)


@pytest.mark.asyncio
async def test_missing_credentials_are_an_authentication_error(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    provider = SqsProvider(AwsSqsConfig(endpoint_url=moto_endpoint))
    assert "aws-chain" in repr(provider)
    with pytest.raises(AuthenticationError) as caught:
        await provider.send_messages(QueueName("anything"), [Message(b"x")])
    assert "credentials" in caught.value.message
    await provider.aclose()


@pytest.mark.asyncio
async def test_an_unreachable_endpoint_is_a_transient_connection_error() -> None:
    provider = SqsProvider(
        AwsSqsConfig(endpoint_url="http://127.0.0.1:9", access_key_id="a", secret_access_key=SECRET)
    )
    with pytest.raises(QueueConnectionError) as caught:
        await provider.get_queue(QueueName("q"))
    assert caught.value.transient and SECRET not in str(caught.value)
    await provider.aclose()
