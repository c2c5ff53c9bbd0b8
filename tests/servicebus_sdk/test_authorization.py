"""Shared access rules with rights, enforced on every operation, through the real SDK (sync and async)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient as AsyncServiceBusClient
from azure.servicebus.exceptions import ServiceBusAuthenticationError, ServiceBusAuthorizationError
from pydantic import SecretStr
from queue_emulator.app import sas_rules
from queue_emulator.cli import settings_from
from queue_emulator.entities import EntityDeclarations, parse_entities
from queue_emulator.runner import EmulatorThread
from queue_emulator.sas import SasRule

from queue_runtime.broker import SystemClock
from queue_runtime.errors import ConfigurationError

from .conftest import Emulator

pytestmark = pytest.mark.timeout(60)

WAIT = 1
KEYS = {"listener": "listen-key", "sender": "send-key", "manager": "manage-key"}
RULES = (
    SasRule("listener", SecretStr(KEYS["listener"]), frozenset({"Listen"})),
    SasRule("sender", SecretStr(KEYS["sender"]), frozenset({"Send"})),
    SasRule("manager", SecretStr(KEYS["manager"]), frozenset({"Manage"})),
)


@pytest.fixture
def ruled() -> Iterator[Emulator]:
    emu = Emulator(SystemClock(), sas_rules=RULES)
    yield emu
    emu.close()


def as_rule(emu: Emulator, rule: str) -> ServiceBusClient:
    return ServiceBusClient.from_connection_string(emu.connection_string(KEYS[rule], rule), retry_total=0)


def as_rule_async(emu: Emulator, rule: str) -> AsyncServiceBusClient:
    return AsyncServiceBusClient.from_connection_string(emu.connection_string(KEYS[rule], rule), retry_total=0)


def test_listen_only_cannot_send_and_send_only_cannot_receive(ruled: Emulator) -> None:
    queue = ruled.queue()
    with as_rule(ruled, "listener") as sb, pytest.raises(ServiceBusAuthorizationError, match="'Send' claim"):
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage(b"no"), timeout=10)
    with as_rule(ruled, "sender") as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage(b"yes"), timeout=10)
            (seq,) = sender.schedule_messages(ServiceBusMessage(b"later"),
                                              dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), timeout=10)
            sender.cancel_scheduled_messages(seq, timeout=10)  # $management operations of a sender need Send
        with pytest.raises(ServiceBusAuthorizationError, match="'Listen' claim"):
            with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
                receiver.receive_messages(max_wait_time=WAIT)
    assert ruled.counts(queue).active_count == 1
    with as_rule(ruled, "listener") as sb, sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
        assert [str(m) for m in receiver.peek_messages(5, timeout=10)] == ["yes"]
        (message,) = receiver.receive_messages(max_wait_time=WAIT)
        receiver.complete_message(message)
    assert ruled.counts(queue).active_count == 0


def test_manage_can_do_everything(ruled: Emulator) -> None:
    queue = ruled.queue()
    with as_rule(ruled, "manager") as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage(b"m"), timeout=10)
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            (message,) = receiver.receive_messages(max_wait_time=WAIT)
            receiver.renew_message_lock(message, timeout=10)
            receiver.complete_message(message)


@pytest.mark.asyncio
async def test_rights_are_enforced_async(ruled: Emulator) -> None:
    queue = ruled.queue()
    async with as_rule_async(ruled, "listener") as sb:
        with pytest.raises(ServiceBusAuthorizationError, match="'Send' claim"):
            async with sb.get_queue_sender(queue) as sender:
                await sender.send_messages(ServiceBusMessage(b"no"), timeout=10)
    async with as_rule_async(ruled, "sender") as sb:
        async with sb.get_queue_sender(queue) as sender:
            await sender.send_messages(ServiceBusMessage(b"yes"), timeout=10)
        with pytest.raises(ServiceBusAuthorizationError, match="'Listen' claim"):
            async with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
                await receiver.receive_messages(max_wait_time=WAIT)
    async with as_rule_async(ruled, "listener") as sb, sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
        (message,) = await receiver.receive_messages(max_wait_time=WAIT)
        await receiver.complete_message(message)


def test_a_rejected_token_is_logged_with_its_reason_and_the_sdk_shows_it(
    ruled: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    queue = ruled.queue()
    wrong = ServiceBusClient.from_connection_string(ruled.connection_string("not-the-key", "listener"),
                                                    retry_total=0)
    with caplog.at_level(logging.WARNING, logger="queue_emulator"), wrong as sb:
        with pytest.raises(ServiceBusAuthenticationError) as info:
            with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
                receiver.receive_messages(max_wait_time=WAIT)
    inner = info.value.inner_exception  # type: ignore[attr-defined]
    assert inner.status_code == 401
    assert "signature does not match the key of rule 'listener'" in str(inner)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("rejected (401)" in m and "signature does not match" in m for m in warnings), warnings
    assert not any("sig=" in m or "not-the-key" in m for m in caplog.messages)
    assert ruled.counts(queue).active_count == 0


def test_an_unknown_key_name_is_refused(ruled: Emulator) -> None:
    queue = ruled.queue()
    with ServiceBusClient.from_connection_string(ruled.connection_string("x", "nobody"), retry_total=0) as sb:
        with pytest.raises(ServiceBusAuthenticationError) as info, sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage(b"x"), timeout=10)
    assert "unknown shared access key name 'nobody'" in str(info.value.inner_exception)  # type: ignore[attr-defined]


def _connection_string(port: int, name: str, key: str) -> str:
    return (f"Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName={name};SharedAccessKey={key};"
            "UseDevelopmentEmulator=true")


def test_the_process_takes_keys_from_a_file_the_environment_and_the_entity_file(tmp_path: Path) -> None:
    key_file = tmp_path / "root.key"
    key_file.write_text("root-key-from-file\n")
    listener_key = tmp_path / "listener.key"
    listener_key.write_text("listener-key-from-file")
    entities = tmp_path / "entities.yaml"
    entities.write_text(
        "queues:\n  - name: orders\n"
        "authorization_rules:\n"
        f"  - name: listener\n    rights: [Listen]\n    key_file: {listener_key}\n"
    )
    env = {"QUEUE_EMULATOR_SAS_KEY_FILE": str(key_file), "QUEUE_EMULATOR_ENTITY_FILE": str(entities),
           "QUEUE_EMULATOR_SAS_RULES": "sender:Send:sender-key-from-env"}
    settings = settings_from([], env)
    assert "key-from" not in repr(settings)  # keys never show
    with EmulatorThread(settings) as emu:
        assert emu.amqp_port is not None
        port = emu.amqp_port
        with ServiceBusClient.from_connection_string(
            _connection_string(port, "RootManageSharedAccessKey", "root-key-from-file"), retry_total=0
        ) as sb, sb.get_queue_sender("orders") as sender:
            sender.send_messages(ServiceBusMessage(b"root"), timeout=10)
        with ServiceBusClient.from_connection_string(
            _connection_string(port, "sender", "sender-key-from-env"), retry_total=0
        ) as sb:
            with sb.get_queue_sender("orders") as sender:
                sender.send_messages(ServiceBusMessage(b"sender"), timeout=10)
            with pytest.raises(ServiceBusAuthorizationError):
                with sb.get_queue_receiver("orders", max_wait_time=WAIT) as receiver:
                    receiver.receive_messages(max_wait_time=WAIT)
        with ServiceBusClient.from_connection_string(
            _connection_string(port, "listener", "listener-key-from-file"), retry_total=0
        ) as sb, sb.get_queue_receiver("orders", max_wait_time=WAIT) as receiver:
            received = receiver.receive_messages(max_message_count=5, max_wait_time=WAIT)
            assert sorted(str(m) for m in received) == ["root", "sender"]
        with ServiceBusClient.from_connection_string(
            _connection_string(port, "RootManageSharedAccessKey", "wrong"), retry_total=0
        ) as sb, pytest.raises(ServiceBusAuthenticationError), sb.get_queue_sender("orders") as sender:
            sender.send_messages(ServiceBusMessage(b"x"), timeout=10)


def test_bad_rule_settings_are_configuration_errors(tmp_path: Path) -> None:
    settings = settings_from(["--sas-rule", "a:Read:k"], {})
    with pytest.raises(ConfigurationError, match="rights must be among"):
        sas_rules(settings, EntityDeclarations())
    with pytest.raises(ConfigurationError, match="NAME:RIGHTS:KEY"):
        sas_rules(settings_from(["--sas-rule", "no-key"], {}), EntityDeclarations())
    with pytest.raises(ConfigurationError, match="given twice"):
        sas_rules(settings_from(["--sas-rule", "a:Send:k", "--sas-rule", "a:Listen:k"], {}), EntityDeclarations())
    with pytest.raises(ConfigurationError, match="cannot read the SAS key file"):
        settings_from(["--sas-key-file", str(tmp_path / "missing")], {}).sas_key_value()
    with pytest.raises(ConfigurationError, match="exactly one of key and key_file"):
        parse_entities({"authorization_rules": [{"name": "x", "rights": ["Send"]}]})
