"""Azure Service Bus through ``azure.servicebus.aio`` (extra ``[servicebus]``).

One ``ServiceBusClient``; senders and receivers are cached per queue and closed with the provider. The SDK's own
retries are off (``retry_total=0``): the core client retries transient errors with its policy, so there is one
retry loop, not two. A receipt handle keeps the SDK message and the receiver that took it, because Service Bus
settles a peek-locked message over the link that delivered it.

Queues and topics are provisioned with ``ServiceBusAdministrationClient``, on Azure and against ``queue-emulator``
alike: the emulator's ``GET /v1/info`` says where its administration endpoint listens (HTTPS) and which generated CA
to trust. An emulator without that endpoint (``--no-admin``, or a CA file this machine cannot read) is managed
through its REST API instead. Subscriptions and rules of the emulator, and its virtual clock, go through the REST
API (see docs/administration.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from .._config import AzureServiceBusConfig, EmulatorConfig
from .._identifiers import MessageId, QueueName, SessionId, SubscriptionName, entity_name
from .._messages import Message, PeekedMessage, ReceiptHandle, ReceivedMessage, attributes_from_properties
from .._queues import QueueOptions, QueueProperties, SessionSupport
from .._topics import (
    CorrelationFilter,
    FalseFilter,
    RuleProperties,
    SqlFilter,
    SqlRuleAction,
    SubscriptionOptions,
    SubscriptionProperties,
    TopicOptions,
    TopicProperties,
    TrueFilter,
)
from ..errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    MessageLockLostError,
    MessageNotFoundError,
    OperationTimeoutError,
    ProviderError,
    QueueAlreadyExistsError,
    QueueConnectionError,
    QueueError,
    QueueNotFoundError,
    QuotaExceededError,
    SessionCannotBeLockedError,
    SessionLockLostError,
    ThrottledError,
    ValidationError,
)
from ..ports import Capabilities, ClockControl, ProviderSettledSession, QueueProvider, SessionProvider

try:
    from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
    from azure.servicebus import (
        NEXT_AVAILABLE_SESSION,
        ServiceBusMessage,
        ServiceBusReceivedMessage,
        ServiceBusReceiveMode,
        ServiceBusSubQueue,
    )
    from azure.servicebus import exceptions as sb
    from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver, ServiceBusSender
    from azure.servicebus.amqp import AmqpMessageBodyType
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ConfigurationError(
        "the Service Bus provider needs the servicebus extra: pip install 'queue-runtime[servicebus]'"
    ) from exc

__all__ = ["ServiceBusProvider"]

ENVELOPE_RESERVE = 4096
"""Bytes of ``max_message_size`` kept for what Service Bus counts besides body and attributes (AMQP sections,
message id, session id, content type, type codes)."""

# Most specific first: the first class the exception is an instance of wins.
_ERRORS: list[tuple[type[BaseException], type[QueueError]]] = [
    (sb.MessageLockLostError, MessageLockLostError),
    (sb.MessageAlreadySettled, MessageLockLostError),
    (sb.SessionLockLostError, SessionLockLostError),
    (sb.SessionCannotBeLockedError, SessionCannotBeLockedError),
    (sb.MessagingEntityNotFoundError, QueueNotFoundError),
    (ResourceNotFoundError, QueueNotFoundError),
    (sb.MessagingEntityAlreadyExistsError, QueueAlreadyExistsError),
    (ResourceExistsError, QueueAlreadyExistsError),
    (sb.MessageNotFoundError, MessageNotFoundError),
    (sb.MessageSizeExceededError, ValidationError),
    (sb.ServiceBusQuotaExceededError, QuotaExceededError),
    (sb.ServiceBusServerBusyError, ThrottledError),
    (sb.ServiceBusAuthenticationError, AuthenticationError),
    (sb.ServiceBusAuthorizationError, AuthorizationError),
    (sb.OperationTimeoutError, OperationTimeoutError),
    (sb.ServiceBusConnectionError, QueueConnectionError),
    (sb.ServiceBusCommunicationError, QueueConnectionError),
    (sb.ServiceBusError, ProviderError),
    (HttpResponseError, ProviderError),  # the administration client's other answers: by status, in _translate
]


@contextlib.contextmanager
def map_exceptions(queue: str | None = None) -> Iterator[None]:
    """Translate SDK exceptions into our tree at this edge only (``raise ... from exc``)."""
    try:
        yield
    except QueueError:
        raise
    except Exception as exc:
        for sdk_type, ours in _ERRORS:
            if isinstance(exc, sdk_type):
                raise _translate(exc, ours, queue) from exc
        raise


def _translate(exc: BaseException, ours: type[QueueError], queue: str | None) -> QueueError:
    text = _describe(exc)
    if isinstance(exc, HttpResponseError) and ours is ProviderError:
        status = exc.status_code or 0
        if status == 400 and "SubCode=40400" in text:  # "The auto forwarding destination entity does not exist"
            return QueueNotFoundError(queue or "?", details={"service_message": text})
        if status == 400:
            return ValidationError("request", f"Service Bus refused the request: {text}")
        if status == 401:
            return AuthenticationError(text)
        if status == 403:
            return QuotaExceededError(text)
        return ProviderError(f"Service Bus error: {text}", transient=status in (429, 500, 503))
    if ours is QueueNotFoundError:
        return QueueNotFoundError(queue or "?", details={"service_message": text})
    if ours is QueueAlreadyExistsError:
        return QueueAlreadyExistsError(queue or "?")
    if ours is ValidationError:
        return ValidationError("message", f"the service refused the message as too large: {text}")
    if ours is ThrottledError:
        return ThrottledError(f"Service Bus is busy: {text}", retry_after=10.0)
    if ours is ProviderError:
        return ProviderError(f"Service Bus error: {text}", transient=bool(getattr(exc, "retryable", False)))
    return ours(text)


def _describe(exc: BaseException) -> str:
    # SDK messages name entities and conditions; they never carry the shared access key.
    return (getattr(exc, "message", None) or str(exc) or type(exc).__name__).split("\n")[0][:500]


def _body(message: ServiceBusReceivedMessage) -> bytes:
    body_type = message.body_type
    if body_type == AmqpMessageBodyType.DATA:
        return b"".join(message.body)
    value = message.body
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, default=str).encode()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _common(message: ServiceBusReceivedMessage) -> dict[str, Any]:
    session = _text(message.session_id)
    return {
        "body": _body(message),
        "message_id": MessageId.delivered(_text(message.message_id) or f"seq-{message.sequence_number}"),
        "sequence_number": message.sequence_number or 0,
        "enqueued_time": message.enqueued_time_utc or datetime.now(UTC),
        # The SDK reports the AMQP header's count of *earlier* deliveries (0 on the first receive, on Azure too);
        # queue_runtime counts this delivery as well (1 on the first), like every other provider.
        "delivery_count": (message.delivery_count or 0) + 1,
        "attributes": attributes_from_properties(message.application_properties or {}),
        "session_id": SessionId.delivered(session) if session else None,
        "correlation_id": _text(message.correlation_id),
        "content_type": _text(message.content_type),
        "subject": _text(message.subject),
        "time_to_live": message.time_to_live,
        "scheduled_enqueue_time": message.scheduled_enqueue_time_utc,
        "dead_letter_reason": message.dead_letter_reason,
        "dead_letter_description": message.dead_letter_error_description,
        "state": {0: "active", 1: "deferred", 2: "scheduled"}.get(int(getattr(message, "state", 0) or 0), "active"),
    }


def _outgoing(message: Message) -> ServiceBusMessage:
    return ServiceBusMessage(
        message.body,
        application_properties=dict(message.attributes) or None,  # type: ignore[arg-type]
        session_id=message.session_id,
        message_id=message.message_id or MessageId.new(),
        correlation_id=message.correlation_id,
        content_type=message.content_type,
        subject=message.subject,
        time_to_live=message.time_to_live,
        scheduled_enqueue_time_utc=message.scheduled_enqueue_time,
    )


class ServiceBusProvider(QueueProvider):
    def __init__(self, config: AzureServiceBusConfig) -> None:
        self.config = config
        if config.resolved_auth_method == "connection_string":
            assert config.connection_string is not None
            self._client = ServiceBusClient.from_connection_string(
                config.connection_string.get_secret_value(), retry_total=0
            )
            self._credential: Any = None
        else:
            self._credential = _credential(config)
            assert config.namespace is not None
            self._client = ServiceBusClient(config.namespace, self._credential, retry_total=0)
        self._senders: dict[str, ServiceBusSender] = {}
        self._receivers: dict[tuple[str, bool], ServiceBusReceiver] = {}
        self._topic_names: set[str] = set()  # sent to with the SDK's topic sender
        self._admin: Any = None
        self._emulator_sdk_admin: Any = None  # the SDK's administration client of the emulator, when it has one
        self._emulator_sdk_admin_checked = False
        self.capabilities = Capabilities(
            provider="servicebus",
            sessions=SessionSupport.NATIVE if config.use_sessions else SessionSupport.NONE,
            session_accept_specific=True,
            session_state=True,
            max_batch_size=100,
            # Service Bus counts the whole encoded message against the entity's limit (and the SDK refuses a batch
            # over it): keep room for the AMQP envelope, system properties and property encodings.
            max_message_size=config.max_message_size - min(ENVELOPE_RESERVE, config.max_message_size // 2),
            dead_letter=True,
            scheduling=True,
            cancel_scheduled=True,
            deferral=True,
            peek=True,
            lock_renewal=True,
            duplicate_detection=True,
            ttl=True,
            topics=True,
            notes=("the SDK's own retries are off; the core client retries transient errors",),
        )

    @classmethod
    async def connect(cls, config: AzureServiceBusConfig) -> ServiceBusProvider:
        """A provider whose capabilities are settled: against ``queue-emulator`` it asks the emulator whether its
        clock is manual, and if so offers ``clock`` (virtual time) like the emulator provider does."""
        provider = cls(config)
        if config.uses_emulator:
            try:
                admin = await provider._administration()
            except BaseException:
                await provider.aclose()
                raise
            provider.capabilities = dataclasses.replace(
                provider.capabilities, clock_control=admin.capabilities.clock_control
            )
        return provider

    @property
    def clock(self) -> ClockControl | None:
        if self.capabilities.clock_control and self._admin is not None:
            return self._admin.clock  # type: ignore[no-any-return]
        return None

    def __repr__(self) -> str:
        where = "emulator" if self.config.uses_emulator else (self.config.namespace or "connection string")
        return f"ServiceBusProvider({where}, auth={self.config.resolved_auth_method})"

    # ------------------------------------------------------------------ provisioning

    async def _administration(self) -> Any:
        if self._admin is not None:
            return self._admin
        if self.config.uses_emulator:
            from .emulator import EmulatorProvider

            self._admin = await EmulatorProvider.connect(EmulatorConfig(url=self._emulator_url()))
        else:
            from azure.servicebus.aio.management import ServiceBusAdministrationClient

            if self.config.connection_string is not None:
                self._admin = ServiceBusAdministrationClient.from_connection_string(
                    self.config.connection_string.get_secret_value()
                )
            else:
                assert self.config.namespace is not None
                self._admin = ServiceBusAdministrationClient(self.config.namespace, self._credential)
        return self._admin

    async def _management(self) -> Any:
        """The SDK's administration client for queues and topics, or None when only the emulator's REST API can
        manage them (an emulator without its administration endpoint)."""
        if not self.config.uses_emulator:
            return await self._administration()
        if not self._emulator_sdk_admin_checked:
            self._emulator_sdk_admin_checked = True
            info = (await self._administration()).server_info
            port, ca_path = info.get("admin_tls_port"), info.get("ca_path")
            if port is not None and ca_path and await asyncio.to_thread(os.path.exists, ca_path):
                from azure.servicebus.aio.management import ServiceBusAdministrationClient

                assert self.config.connection_string is not None
                self._emulator_sdk_admin = ServiceBusAdministrationClient.from_connection_string(
                    _with_endpoint_port(self.config.connection_string.get_secret_value(), int(port)),
                    connection_verify=str(ca_path),
                    retry_total=0,
                )
        return self._emulator_sdk_admin

    def _emulator_url(self) -> str:
        if self.config.emulator_management_url:
            return self.config.emulator_management_url
        assert self.config.connection_string is not None
        for part in self.config.connection_string.get_secret_value().split(";"):
            key, _, value = part.partition("=")
            if key.strip().lower() == "endpoint":
                host = urlsplit(value.strip()).hostname or "127.0.0.1"
                return f"http://{host}:8080"
        raise ConfigurationError("the connection string has no Endpoint")

    async def create_queue(self, name: QueueName, options: QueueOptions) -> QueueProperties:
        admin = await self._management()
        if admin is None:
            return await (await self._administration()).create_queue(name, options)  # type: ignore[no-any-return]
        kwargs: dict[str, Any] = {
            "requires_session": options.requires_session,
            "lock_duration": options.lock_duration,
            "max_delivery_count": options.max_delivery_count,
            "dead_lettering_on_message_expiration": options.dead_lettering_on_message_expiration,
            "forward_to": options.forward_to,
            "forward_dead_lettered_messages_to": options.forward_dead_lettered_messages_to,
        }
        if options.default_message_ttl is not None:
            kwargs["default_message_time_to_live"] = options.default_message_ttl
        if options.duplicate_detection_window is not None:
            kwargs["requires_duplicate_detection"] = True
            kwargs["duplicate_detection_history_time_window"] = options.duplicate_detection_window
        if options.max_size_bytes is not None:
            kwargs["max_size_in_megabytes"] = max(1024, options.max_size_bytes // (1024 * 1024))
        with map_exceptions(name):
            await admin.create_queue(name, **kwargs)
        return await self.get_queue(name)

    async def delete_queue(self, name: QueueName) -> None:
        admin = await self._management()
        if admin is None:
            await (await self._administration()).delete_queue(name)
            return
        with map_exceptions(name):
            await admin.delete_queue(name)

    async def update_queue(self, name: QueueName, options: QueueOptions) -> QueueProperties:
        admin = await self._administration()
        if self.config.uses_emulator:
            return await admin.update_queue(name, options)  # type: ignore[no-any-return]
        with map_exceptions(name):
            props = await admin.get_queue(name)
            props.lock_duration = options.lock_duration
            props.max_delivery_count = options.max_delivery_count
            props.dead_lettering_on_message_expiration = options.dead_lettering_on_message_expiration
            props.forward_to = options.forward_to
            props.forward_dead_lettered_messages_to = options.forward_dead_lettered_messages_to
            await admin.update_queue(props)
        return await self.get_queue(name)

    async def get_queue(self, name: QueueName) -> QueueProperties:
        admin = await self._management()
        if admin is None:
            return await (await self._administration()).get_queue(name)  # type: ignore[no-any-return]
        with map_exceptions(name):
            props = await admin.get_queue(name)
            runtime = await admin.get_queue_runtime_properties(name)
        return QueueProperties(
            name=name,
            options=QueueOptions(
                requires_session=bool(props.requires_session),
                lock_duration=props.lock_duration,
                max_delivery_count=props.max_delivery_count,
                dead_lettering_on_message_expiration=bool(props.dead_lettering_on_message_expiration),
                default_message_ttl=_finite(props.default_message_time_to_live),
                duplicate_detection_window=(
                    props.duplicate_detection_history_time_window if props.requires_duplicate_detection else None
                ),
                forward_to=_entity_of(props.forward_to),
                forward_dead_lettered_messages_to=_entity_of(props.forward_dead_lettered_messages_to),
            ),
            created_at=runtime.created_at_utc or datetime.now(UTC),
            active_count=runtime.active_message_count or 0,
            scheduled_count=runtime.scheduled_message_count or 0,
            dead_letter_count=runtime.dead_letter_message_count or 0,
            size_bytes=runtime.size_in_bytes or 0,
        )

    # ------------------------------------------------------------------ topics, subscriptions, rules
    # Topics through the administration client (the emulator's REST API if it has no administration endpoint);
    # subscriptions and rules of the emulator through its REST API, on Azure through the administration client.

    async def create_topic(self, name: QueueName, options: TopicOptions) -> TopicProperties:
        admin = await self._management()
        self._topic_names.add(name)
        if admin is None:
            return await (await self._administration()).create_topic(name, options)  # type: ignore[no-any-return]
        kwargs: dict[str, Any] = {}
        if options.default_message_ttl is not None:
            kwargs["default_message_time_to_live"] = options.default_message_ttl
        if options.duplicate_detection_window is not None:
            kwargs["requires_duplicate_detection"] = True
            kwargs["duplicate_detection_history_time_window"] = options.duplicate_detection_window
        if options.max_size_bytes is not None:
            kwargs["max_size_in_megabytes"] = max(1024, options.max_size_bytes // (1024 * 1024))
        with map_exceptions(name):
            await admin.create_topic(name, **kwargs)
        return await self.get_topic(name)

    async def update_topic(self, name: QueueName, options: TopicOptions) -> TopicProperties:
        admin = await self._management()
        if admin is None:
            return await (await self._administration()).update_topic(name, options)  # type: ignore[no-any-return]
        with map_exceptions(name):
            props = await admin.get_topic(name)
            if options.default_message_ttl is not None:
                props.default_message_time_to_live = options.default_message_ttl
            if options.duplicate_detection_window is not None:
                props.duplicate_detection_history_time_window = options.duplicate_detection_window
            await admin.update_topic(props)
        return await self.get_topic(name)

    async def get_topic(self, name: QueueName) -> TopicProperties:
        admin = await self._management()
        self._topic_names.add(name)
        if admin is None:
            return await (await self._administration()).get_topic(name)  # type: ignore[no-any-return]
        with map_exceptions(name):
            props = await admin.get_topic(name)
            runtime = await admin.get_topic_runtime_properties(name)
        window = props.duplicate_detection_history_time_window if props.requires_duplicate_detection else None
        return TopicProperties(
            name=name,
            options=TopicOptions(
                duplicate_detection_window=window, default_message_ttl=_finite(props.default_message_time_to_live)
            ),
            created_at=runtime.created_at_utc or datetime.now(UTC),
            subscription_count=runtime.subscription_count or 0,
            scheduled_count=runtime.scheduled_message_count or 0,
            size_bytes=runtime.size_in_bytes or 0,
        )

    async def list_topics(self) -> list[TopicProperties]:
        admin = await self._management()
        if admin is None:
            return await (await self._administration()).list_topics()  # type: ignore[no-any-return]
        with map_exceptions(None):
            names = [t.name async for t in admin.list_topics()]
        return [await self.get_topic(QueueName(n)) for n in names]

    async def delete_topic(self, name: QueueName) -> None:
        admin = await self._management()
        self._topic_names.discard(name)
        if admin is None:
            await (await self._administration()).delete_topic(name)
            return
        with map_exceptions(name):
            await admin.delete_topic(name)

    async def create_subscription(
        self, name: SubscriptionName, options: SubscriptionOptions, rule: RuleProperties | None
    ) -> SubscriptionProperties:
        admin = await self._administration()
        if self.config.uses_emulator:
            return await admin.create_subscription(name, options, rule)  # type: ignore[no-any-return]
        kwargs: dict[str, Any] = {
            "requires_session": options.requires_session,
            "lock_duration": options.lock_duration,
            "max_delivery_count": options.max_delivery_count,
            "dead_lettering_on_message_expiration": options.dead_lettering_on_message_expiration,
            "dead_lettering_on_filter_evaluation_exceptions": options.dead_lettering_on_filter_evaluation_exceptions,
            "forward_to": options.forward_to,
            "forward_dead_lettered_messages_to": options.forward_dead_lettered_messages_to,
        }
        if options.default_message_ttl is not None:
            kwargs["default_message_time_to_live"] = options.default_message_ttl
        with map_exceptions(name):
            await admin.create_subscription(name.topic, name.subscription, **kwargs)
            if rule is not None:  # Service Bus gives every new subscription $Default: replace it with this one
                if rule.name != "$Default":
                    await admin.create_rule(name.topic, name.subscription, rule.name, **_azure_rule(rule))
                    await admin.delete_rule(name.topic, name.subscription, "$Default")
                else:
                    await self.update_rule(name, rule)
        return await self.get_subscription(name)

    async def update_subscription(self, name: SubscriptionName, options: SubscriptionOptions) -> SubscriptionProperties:
        admin = await self._administration()
        if self.config.uses_emulator:
            return await admin.update_subscription(name, options)  # type: ignore[no-any-return]
        with map_exceptions(name):
            props = await admin.get_subscription(name.topic, name.subscription)
            props.lock_duration = options.lock_duration
            props.max_delivery_count = options.max_delivery_count
            props.dead_lettering_on_message_expiration = options.dead_lettering_on_message_expiration
            props.forward_to = options.forward_to
            props.forward_dead_lettered_messages_to = options.forward_dead_lettered_messages_to
            await admin.update_subscription(name.topic, props)
        return await self.get_subscription(name)

    async def get_subscription(self, name: SubscriptionName) -> SubscriptionProperties:
        admin = await self._administration()
        if self.config.uses_emulator:
            return await admin.get_subscription(name)  # type: ignore[no-any-return]
        with map_exceptions(name):
            props = await admin.get_subscription(name.topic, name.subscription)
            runtime = await admin.get_subscription_runtime_properties(name.topic, name.subscription)
            rules = [r async for r in admin.list_rules(name.topic, name.subscription)]
        return SubscriptionProperties(
            topic=name.topic,
            name=name.subscription,
            options=SubscriptionOptions(
                requires_session=bool(props.requires_session),
                lock_duration=props.lock_duration,
                max_delivery_count=props.max_delivery_count,
                dead_lettering_on_message_expiration=bool(props.dead_lettering_on_message_expiration),
                forward_to=props.forward_to,
                forward_dead_lettered_messages_to=props.forward_dead_lettered_messages_to,
            ),
            created_at=runtime.created_at_utc or datetime.now(UTC),
            rule_count=len(rules),
            active_count=runtime.active_message_count or 0,
            dead_letter_count=runtime.dead_letter_message_count or 0,
        )

    async def list_subscriptions(self, topic: QueueName) -> list[SubscriptionProperties]:
        admin = await self._administration()
        if self.config.uses_emulator:
            return await admin.list_subscriptions(topic)  # type: ignore[no-any-return]
        with map_exceptions(topic):
            names = [s.name async for s in admin.list_subscriptions(topic)]
        return [await self.get_subscription(SubscriptionName(topic, n)) for n in names]

    async def delete_subscription(self, name: SubscriptionName) -> None:
        admin = await self._administration()
        if self.config.uses_emulator:
            await admin.delete_subscription(name)
            return
        with map_exceptions(name):
            await admin.delete_subscription(name.topic, name.subscription)

    async def create_rule(self, subscription: SubscriptionName, rule: RuleProperties) -> RuleProperties:
        admin = await self._administration()
        if self.config.uses_emulator:
            return await admin.create_rule(subscription, rule)  # type: ignore[no-any-return]
        with map_exceptions(subscription):
            await admin.create_rule(subscription.topic, subscription.subscription, rule.name, **_azure_rule(rule))
        return rule

    async def update_rule(self, subscription: SubscriptionName, rule: RuleProperties) -> RuleProperties:
        admin = await self._administration()
        if self.config.uses_emulator:
            return await admin.update_rule(subscription, rule)  # type: ignore[no-any-return]
        with map_exceptions(subscription):
            props = await admin.get_rule(subscription.topic, subscription.subscription, rule.name)
            spec = _azure_rule(rule)
            props.filter, props.action = spec["filter"], spec["action"]
            await admin.update_rule(subscription.topic, subscription.subscription, props)
        return rule

    async def delete_rule(self, subscription: SubscriptionName, rule_name: str) -> None:
        admin = await self._administration()
        if self.config.uses_emulator:
            await admin.delete_rule(subscription, rule_name)
            return
        with map_exceptions(subscription):
            await admin.delete_rule(subscription.topic, subscription.subscription, rule_name)

    async def list_rules(self, subscription: SubscriptionName) -> list[RuleProperties]:
        admin = await self._administration()
        if self.config.uses_emulator:
            return await admin.list_rules(subscription)  # type: ignore[no-any-return]
        with map_exceptions(subscription):
            found = [r async for r in admin.list_rules(subscription.topic, subscription.subscription)]
        return [_rule_from_azure(r) for r in found]

    # ------------------------------------------------------------------ handlers

    def _sender(self, queue: str) -> ServiceBusSender:
        sender = self._senders.get(queue)
        if sender is None:
            if queue in self._topic_names:
                sender = self._client.get_topic_sender(queue)
            else:
                sender = self._client.get_queue_sender(queue)
            self._senders[queue] = sender
        return sender

    def _receiver_for(self, entity: str, **kwargs: Any) -> ServiceBusReceiver:
        """The SDK's subscription receiver for a subscription, its queue receiver otherwise."""
        name = entity_name(entity)
        if isinstance(name, SubscriptionName):
            return self._client.get_subscription_receiver(name.topic, name.subscription, **kwargs)
        return self._client.get_queue_receiver(name, **kwargs)

    async def _receiver(self, queue: str, dead_letter: bool) -> ServiceBusReceiver:
        key = (queue, dead_letter)
        receiver = self._receivers.get(key)
        if receiver is None:
            receiver = self._receiver_for(
                queue,
                sub_queue=ServiceBusSubQueue.DEAD_LETTER if dead_letter else None,
                receive_mode=ServiceBusReceiveMode.PEEK_LOCK,
                prefetch_count=0,
            )
            # Open the link now, under the SDK's own open deadline: a first receive with a short wait would
            # otherwise spend its whole wait on the connection, CBS and attach handshakes and time out.
            with map_exceptions(queue):
                await receiver.__aenter__()
            self._receivers[key] = receiver
        return receiver

    # ------------------------------------------------------------------ messages

    async def send_messages(self, queue: QueueName, messages: Sequence[Message]) -> list[MessageId]:
        outgoing = [_outgoing(m) for m in messages]
        with map_exceptions(queue):
            await self._sender(queue).send_messages(outgoing)
        return [MessageId(str(m.message_id)) for m in outgoing]

    async def receive_messages(
        self, queue: QueueName, max_messages: int, timeout: timedelta, *, dead_letter: bool = False
    ) -> list[ReceivedMessage]:
        receiver = await self._receiver(queue, dead_letter)
        with map_exceptions(queue):
            found = await receiver.receive_messages(
                max_message_count=max_messages, max_wait_time=max(timeout.total_seconds(), 0.05)
            )
        return [_received(m, queue, receiver, dead_letter=dead_letter) for m in found]

    @staticmethod
    def _held(receipt: ReceiptHandle) -> tuple[ServiceBusReceiver, ServiceBusReceivedMessage]:
        data = receipt.provider_data
        if not isinstance(data, tuple) or len(data) != 2:
            raise MessageLockLostError(
                "this receipt was not issued by this Service Bus client: settle a message with the client "
                "that received it"
            )
        return data

    async def complete(self, receipt: ReceiptHandle) -> None:
        receiver, message = self._held(receipt)
        with map_exceptions(receipt.queue):
            await receiver.complete_message(message)

    async def abandon(self, receipt: ReceiptHandle) -> None:
        receiver, message = self._held(receipt)
        with map_exceptions(receipt.queue):
            await receiver.abandon_message(message)

    async def dead_letter(self, receipt: ReceiptHandle, reason: str, description: str | None) -> None:
        receiver, message = self._held(receipt)
        with map_exceptions(receipt.queue):
            await receiver.dead_letter_message(message, reason=reason, error_description=description)

    async def defer(self, receipt: ReceiptHandle) -> int:
        receiver, message = self._held(receipt)
        with map_exceptions(receipt.queue):
            await receiver.defer_message(message)
        return int(message.sequence_number or 0)

    async def receive_deferred(self, queue: QueueName, sequence_numbers: Sequence[int]) -> list[ReceivedMessage]:
        receiver = await self._receiver(queue, False)
        with map_exceptions(queue):
            found = await receiver.receive_deferred_messages(list(sequence_numbers))
        return [_received(m, queue, receiver, dead_letter=False) for m in found]

    async def renew_lock(self, receipt: ReceiptHandle) -> datetime:
        receiver, message = self._held(receipt)
        with map_exceptions(receipt.queue):
            return await receiver.renew_message_lock(message)

    async def peek_messages(
        self, queue: QueueName, max_messages: int, from_sequence: int | None = None, *, dead_letter: bool = False
    ) -> list[PeekedMessage]:
        receiver = await self._receiver(queue, dead_letter)
        with map_exceptions(queue):
            # The SDK reads sequence_number=0 as "after the last one this receiver peeked"; the port's None means
            # "from the first message" (sequence numbers start at 1), however often the receiver peeked before.
            found = await receiver.peek_messages(max_message_count=max_messages, sequence_number=from_sequence or 1)
        return [PeekedMessage(**_common(m)) for m in found]

    async def schedule_messages(self, queue: QueueName, messages: Sequence[Message], at: datetime) -> list[int]:
        with map_exceptions(queue):
            return list(await self._sender(queue).schedule_messages([_outgoing(m) for m in messages], at))

    async def cancel_scheduled(self, queue: QueueName, sequence_numbers: Sequence[int]) -> None:
        with map_exceptions(queue):
            await self._sender(queue).cancel_scheduled_messages(list(sequence_numbers))

    # ------------------------------------------------------------------ sessions

    async def accept_session(
        self, queue: QueueName, session_id: SessionId | None, timeout: timedelta
    ) -> SessionProvider | None:
        receiver = self._receiver_for(
            queue,
            session_id=session_id if session_id is not None else NEXT_AVAILABLE_SESSION,
            receive_mode=ServiceBusReceiveMode.PEEK_LOCK,
            max_wait_time=max(timeout.total_seconds(), 0.05),
            prefetch_count=0,
        )
        try:
            with map_exceptions(queue):
                await receiver.__aenter__()
        except OperationTimeoutError:
            await receiver.close()
            if session_id is None:
                return None  # nobody had a session for us within the timeout
            raise
        except QueueError:
            await receiver.close()
            raise
        return ServiceBusSession(self, queue, receiver)

    async def aclose(self) -> None:
        handlers: list[Any] = [*self._senders.values(), *self._receivers.values()]
        self._senders.clear()
        self._receivers.clear()
        for handler in handlers:
            with contextlib.suppress(Exception):
                await handler.close()
        if self._emulator_sdk_admin is not None:
            with contextlib.suppress(Exception):
                await self._emulator_sdk_admin.close()
        if self._admin is not None:
            with contextlib.suppress(Exception):
                await self._admin.close() if hasattr(self._admin, "close") else await self._admin.aclose()
        await self._client.close()
        if self._credential is not None and hasattr(self._credential, "close"):
            await self._credential.close()


# .NET's TimeSpan.MaxValue, Service Bus' "never" (about 29 227 years).
_NEVER = timedelta(days=10675199)


def _finite(value: timedelta | None) -> timedelta | None:
    return None if value is None or value >= _NEVER else value


def _entity_of(value: str | None) -> str | None:
    """Service Bus answers forwarding targets as ``sb://namespace/name``; the library names the entity."""
    if not value:
        return None
    return value.split("://", 1)[1].partition("/")[2] if "://" in value else value


def _with_endpoint_port(connection_string: str, port: int) -> str:
    """The same connection string with ``Endpoint=sb://host:port`` on ``port`` (the administration client
    sends HTTPS to the Endpoint's host and port)."""
    parts = []
    for part in connection_string.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "endpoint":
            host = urlsplit(value.strip()).hostname or "127.0.0.1"
            part = f"{key}=sb://{host}:{port}"
        parts.append(part)
    return ";".join(parts)


def _received(
    message: ServiceBusReceivedMessage, queue: QueueName, receiver: ServiceBusReceiver, *, dead_letter: bool
) -> ReceivedMessage:
    fields = _common(message)
    locked_until = message.locked_until_utc
    receipt = ReceiptHandle(
        token=str(message.lock_token),
        queue=queue,
        dead_letter=dead_letter,
        session_id=fields["session_id"],
        locked_until=locked_until,
        provider_data=(receiver, message),
    )
    return ReceivedMessage(**fields, receipt_handle=receipt, locked_until=locked_until)


class ServiceBusSession(ProviderSettledSession):
    def __init__(self, provider: ServiceBusProvider, queue: QueueName, receiver: ServiceBusReceiver) -> None:
        self.capabilities = provider.capabilities
        self.queue = queue
        self._provider = provider
        self._receiver = receiver

    @property
    def session_id(self) -> SessionId:
        return SessionId.delivered(self._receiver.session.session_id)

    @property
    def locked_until(self) -> datetime | None:
        return self._receiver.session.locked_until_utc

    async def receive_messages(self, max_messages: int, timeout: timedelta) -> list[ReceivedMessage]:
        with map_exceptions(self.queue):
            found = await self._receiver.receive_messages(
                max_message_count=max_messages, max_wait_time=max(timeout.total_seconds(), 0.05)
            )
        return [_received(m, self.queue, self._receiver, dead_letter=False) for m in found]

    async def renew_session_lock(self) -> datetime:
        with map_exceptions(self.queue):
            return await self._receiver.session.renew_lock()

    async def get_state(self) -> bytes | None:
        with map_exceptions(self.queue):
            state = await self._receiver.session.get_state()
        return bytes(state) if state is not None else None

    async def set_state(self, state: bytes | None) -> None:
        with map_exceptions(self.queue):
            await self._receiver.session.set_state(state)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._receiver.close()


def _azure_rule(rule: RuleProperties) -> dict[str, Any]:
    """Our rule as the administration client's ``filter`` and ``action`` arguments."""
    from azure.servicebus.management import (
        CorrelationRuleFilter,
        FalseRuleFilter,
        SqlRuleFilter,
        TrueRuleFilter,
    )
    from azure.servicebus.management import SqlRuleAction as AzureSqlRuleAction

    filter_ = rule.filter
    azure_filter: Any
    if isinstance(filter_, TrueFilter):
        azure_filter = TrueRuleFilter()
    elif isinstance(filter_, FalseFilter):
        azure_filter = FalseRuleFilter()
    elif isinstance(filter_, SqlFilter):
        azure_filter = SqlRuleFilter(filter_.expression, parameters=filter_.parameters or None)
    else:
        azure_filter = CorrelationRuleFilter(
            correlation_id=filter_.correlation_id, message_id=filter_.message_id, to=filter_.to,
            reply_to=filter_.reply_to, label=filter_.subject, session_id=filter_.session_id,
            reply_to_session_id=filter_.reply_to_session_id, content_type=filter_.content_type,
            properties=dict(filter_.properties),
        )
    action = None
    if rule.action is not None:
        action = AzureSqlRuleAction(rule.action.expression, parameters=rule.action.parameters or None)
    return {"filter": azure_filter, "action": action}


def _rule_from_azure(rule: Any) -> RuleProperties:
    from azure.servicebus.management import CorrelationRuleFilter, FalseRuleFilter, TrueRuleFilter

    azure_filter = rule.filter
    filter_: TrueFilter | FalseFilter | CorrelationFilter | SqlFilter
    if isinstance(azure_filter, TrueRuleFilter):
        filter_ = TrueFilter()
    elif isinstance(azure_filter, FalseRuleFilter):
        filter_ = FalseFilter()
    elif isinstance(azure_filter, CorrelationRuleFilter):
        filter_ = CorrelationFilter(
            correlation_id=azure_filter.correlation_id, message_id=azure_filter.message_id, to=azure_filter.to,
            reply_to=azure_filter.reply_to, subject=azure_filter.label, session_id=azure_filter.session_id,
            reply_to_session_id=azure_filter.reply_to_session_id, content_type=azure_filter.content_type,
            properties=dict(azure_filter.properties or {}),
        )
    else:
        filter_ = SqlFilter(expression=str(azure_filter.sql_expression))
    action = getattr(rule, "action", None)
    expression = getattr(action, "sql_expression", None)
    return RuleProperties(
        name=rule.name,
        filter=filter_,
        action=SqlRuleAction(expression=expression) if expression else None,
        created_at=getattr(rule, "created_at_utc", None),
    )


def _credential(config: AzureServiceBusConfig) -> Any:
    try:
        from azure.identity.aio import (  # type: ignore[import-untyped,unused-ignore]
            ClientSecretCredential,
            DefaultAzureCredential,
            ManagedIdentityCredential,
        )
    except ImportError as exc:  # pragma: no cover
        raise ConfigurationError("namespace authentication needs azure-identity: pip install azure-identity") from exc
    method = config.resolved_auth_method
    if method == "client_secret":
        assert config.tenant_id and config.client_id and config.client_secret
        return ClientSecretCredential(config.tenant_id, config.client_id, config.client_secret.get_secret_value())
    if method == "managed_identity":
        if config.client_id:
            return ManagedIdentityCredential(client_id=config.client_id)
        return ManagedIdentityCredential()
    return DefaultAzureCredential()
