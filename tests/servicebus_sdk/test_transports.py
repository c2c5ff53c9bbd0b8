"""The SDK over the emulator's other transports: AMQP over TLS (``amqps``, generated CA) and AMQP over WebSockets
(``TransportType.AmqpOverWebsocket``), sync and async, through the whole process (settings, app, listeners)."""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, TransportType
from azure.servicebus.aio import ServiceBusClient as AsyncServiceBusClient
from azure.servicebus.exceptions import ServiceBusConnectionError
from queue_emulator.runner import EmulatorThread
from queue_emulator.settings import EmulatorSettings

pytestmark = pytest.mark.timeout(90)

WAIT = 1


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorThread]:
    settings = EmulatorSettings(admin=False, auto_create=True, amqps=True, amqp_websocket=True,
                                tls_dir=tmp_path_factory.mktemp("tls"))
    with EmulatorThread(settings) as running:
        yield running


def _tls_connection_string() -> str:
    # Without UseDevelopmentEmulator the SDK uses TLS; custom_endpoint_address points it at our amqps port.
    return "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=k;SharedAccessKey=k"


def _emulator_connection_string(port: int) -> str:
    return f"Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName=k;SharedAccessKey=k;UseDevelopmentEmulator=true"


def test_info_reports_the_tls_and_websocket_endpoints(emu: EmulatorThread) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(emu.url + "/v1/info", timeout=10) as response:
        info = json.load(response)
    assert (info["amqps_port"], info["amqp_websocket_port"]) == (emu.amqps_port, emu.amqp_websocket_port)
    assert info["ca_path"] == str(emu.ca_path)


def test_the_ca_bundle_is_written_and_verifies_the_amqps_listener(emu: EmulatorThread) -> None:
    assert emu.ca_path is not None and emu.ca_path.is_file() and emu.amqps_port is not None
    key = emu.ca_path.parent / "queue-emulator-key.pem"
    assert key.is_file() and key.stat().st_mode & 0o077 == 0  # the private key is the owner's only
    assert b"PRIVATE KEY" not in emu.ca_path.read_bytes()
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    import socket

    with socket.create_connection(("127.0.0.1", emu.amqps_port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"AMQP\x03\x01\x00\x00")
            assert tls.recv(8) == b"AMQP\x03\x01\x00\x00"  # SASL header answered inside TLS
    untrusting = ssl.create_default_context()
    with socket.create_connection(("127.0.0.1", emu.amqps_port), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            untrusting.wrap_socket(raw, server_hostname="127.0.0.1")


def test_send_and_receive_over_amqps_with_the_generated_ca(emu: EmulatorThread) -> None:
    assert emu.amqps_port is not None and emu.ca_path is not None
    with ServiceBusClient.from_connection_string(
        _tls_connection_string(), retry_total=0, transport_type=TransportType.Amqp,
        custom_endpoint_address=f"sb://127.0.0.1:{emu.amqps_port}", connection_verify=str(emu.ca_path),
    ) as sb:
        with sb.get_queue_sender("tls-queue") as sender:
            sender.send_messages(ServiceBusMessage(b"over tls"), timeout=10)
        with sb.get_queue_receiver("tls-queue", max_wait_time=WAIT) as receiver:
            (message,) = receiver.receive_messages(max_wait_time=5)
            assert str(message) == "over tls"
            receiver.complete_message(message)


@pytest.mark.asyncio
async def test_send_and_receive_over_amqps_async(emu: EmulatorThread) -> None:
    assert emu.amqps_port is not None and emu.ca_path is not None
    async with AsyncServiceBusClient.from_connection_string(
        _tls_connection_string(), retry_total=0, transport_type=TransportType.Amqp,
        custom_endpoint_address=f"sb://127.0.0.1:{emu.amqps_port}", connection_verify=str(emu.ca_path),
    ) as sb:
        async with sb.get_queue_sender("tls-async") as sender:
            await sender.send_messages(ServiceBusMessage(b"over tls"), timeout=10)
        async with sb.get_queue_receiver("tls-async", max_wait_time=WAIT) as receiver:
            (message,) = await receiver.receive_messages(max_wait_time=5)
            await receiver.complete_message(message)


def test_a_client_that_does_not_trust_the_ca_is_refused(emu: EmulatorThread, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    import trustme

    trustme.CA().cert_pem.write_to_path(str(other))
    with ServiceBusClient.from_connection_string(
        _tls_connection_string(), retry_total=0, transport_type=TransportType.Amqp,
        custom_endpoint_address=f"sb://127.0.0.1:{emu.amqps_port}", connection_verify=str(other),
    ) as sb, pytest.raises(ServiceBusConnectionError), sb.get_queue_sender("tls-queue") as sender:
        sender.send_messages(ServiceBusMessage(b"x"), timeout=10)


def _websocket_client(port: int, cls: type = ServiceBusClient) -> object:
    # The SDK dials port 443 for WebSockets; custom_endpoint_address points it at the emulator's WebSocket port
    # (the SDK appends /$servicebus/websocket itself).
    return cls.from_connection_string(
        _emulator_connection_string(port), retry_total=0, transport_type=TransportType.AmqpOverWebsocket,
        custom_endpoint_address=f"sb://127.0.0.1:{port}",
    )


def test_send_and_receive_over_websockets(emu: EmulatorThread) -> None:
    assert emu.amqp_websocket_port is not None
    client = _websocket_client(emu.amqp_websocket_port)
    assert isinstance(client, ServiceBusClient)
    with client as sb:
        with sb.get_queue_sender("ws-queue") as sender:
            sender.send_messages([ServiceBusMessage(f"ws-{i}") for i in range(3)], timeout=10)
            sender.send_messages(ServiceBusMessage(b"x" * 200_000), timeout=10)  # several WebSocket messages
        with sb.get_queue_receiver("ws-queue", max_wait_time=WAIT) as receiver:
            received = receiver.receive_messages(max_message_count=4, max_wait_time=5)
            assert sorted(str(m)[:4] for m in received) == ["ws-0", "ws-1", "ws-2", "xxxx"]
            for message in received:
                receiver.complete_message(message)


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore:ssl=None is deprecated:DeprecationWarning")  # inside the SDK's ws_connect call
async def test_send_and_receive_over_websockets_async(emu: EmulatorThread) -> None:
    assert emu.amqp_websocket_port is not None
    client = _websocket_client(emu.amqp_websocket_port, AsyncServiceBusClient)
    assert isinstance(client, AsyncServiceBusClient)
    async with client as sb:
        async with sb.get_queue_sender("ws-async") as sender:
            await sender.send_messages(ServiceBusMessage(b"over websockets"), timeout=10)
        async with sb.get_queue_receiver("ws-async", max_wait_time=WAIT) as receiver:
            (message,) = await receiver.receive_messages(max_wait_time=5)
            assert str(message) == "over websockets"
            await receiver.complete_message(message)


def test_the_cli_prints_the_ca_bundle_and_the_websocket_address(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "queue_emulator", "--port", "0", "--amqp-port", "0",
            "--admin-port", "0", "--admin-tls-port", "0", "--amqps", "--amqps-port", "0",
         "--amqp-websocket", "--amqp-websocket-port", "0", "--tls-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        while not lines or "CA bundle" not in lines[-1]:
            line = process.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
    finally:
        process.terminate()
        process.wait(timeout=20)
    text = "".join(lines)
    assert f"CA bundle  {tmp_path / 'queue-emulator-ca.pem'}" in text
    assert "AMQP TLS   amqps://127.0.0.1:" in text and "/$servicebus/websocket" in text


DOC = Path(__file__).parents[2] / "docs" / "servicebus-emulator.md"


@pytest.mark.parametrize("marker", ["transport_type=TransportType.Amqp,", "TransportType.AmqpOverWebsocket"])
def test_the_documented_transport_examples_work(emu: EmulatorThread, marker: str) -> None:
    import re

    assert emu.amqps_port is not None and emu.amqp_websocket_port is not None and emu.ca_path is not None
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    (example,) = [b for b in blocks if marker in b]
    code = (example.replace("5671", str(emu.amqps_port)).replace("5673", str(emu.amqp_websocket_port))
            .replace("/path/printed/queue-emulator-ca.pem", str(emu.ca_path)))
    namespace: dict[str, object] = {}
    exec(compile("from azure.servicebus import ServiceBusClient, TransportType\n" + code, str(DOC), "exec"),
         namespace)
    client = namespace["client"]
    assert isinstance(client, ServiceBusClient)
    with client as sb, sb.get_queue_sender("documented") as sender:
        sender.send_messages(ServiceBusMessage(b"as documented"), timeout=10)
