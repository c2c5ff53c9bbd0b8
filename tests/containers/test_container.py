"""The emulator's image through the testcontainers module: REST, the Azure SDK over AMQP, options, networks,
parallel containers and readiness. Every test labels its containers; ``test_label`` fails a test that leaves one."""

from __future__ import annotations

import base64
import json
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus.exceptions import ServiceBusAuthenticationError
from queue_emulator.containers import AMQP_PORT, HTTP_PORT, QueueEmulatorContainer
from testcontainers.core.container import DockerContainer
from testcontainers.core.exceptions import ContainerStartException
from testcontainers.core.network import Network

# The first test may wait for the image build (about a minute on a fresh machine).
pytestmark = pytest.mark.timeout(600)


def call(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"}, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def emulator(image: str, labels: dict[str, str]) -> QueueEmulatorContainer:
    return QueueEmulatorContainer(image).with_labels(**labels)


def test_rest_round_trip_with_an_entity_file_and_the_manual_clock(
    emulator_image: str, test_label: dict[str, str], tmp_path: Path
) -> None:
    entities = tmp_path / "entities.yaml"
    entities.write_text("queues:\n  orders:\n    lock_duration: 30\n")
    with emulator(emulator_image, test_label).with_entity_file(entities).with_manual_clock() as container:
        url = container.get_http_url()
        assert call("GET", f"{url}/v1/info")["clock"] == "manual"
        assert [q["name"] for q in call("GET", f"{url}/v1/queues")["queues"]] == ["orders"]
        body = base64.b64encode(b"hello from the host").decode()
        call("POST", f"{url}/v1/queues/orders/messages", {"messages": [{"body": body, "message_id": "m-1"}]})
        (first,) = call("POST", f"{url}/v1/queues/orders/messages/receive", {"max_messages": 1})["messages"]
        assert (base64.b64decode(first["body"]), first["message_id"], first["delivery_count"]) == (
            b"hello from the host", "m-1", 1)
        # The clock stands still until moved: the lock expires only when the test says so.
        assert call("POST", f"{url}/v1/queues/orders/messages/receive", {"max_messages": 1})["messages"] == []
        call("POST", f"{url}/v1/_control/clock/advance", {"seconds": 31})
        (again,) = call("POST", f"{url}/v1/queues/orders/messages/receive", {"max_messages": 1})["messages"]
        assert (again["message_id"], again["delivery_count"]) == ("m-1", 2)
        call("POST", f"{url}/v1/queues/orders/locks/complete", {"lock_tokens": [again["lock_token"]]})
        assert call("GET", f"{url}/v1/queues/orders")["active_count"] == 0


def test_the_azure_sdk_over_amqp_against_the_mapped_port(emulator_image: str, test_label: dict[str, str]) -> None:
    container = emulator(emulator_image, test_label).with_entities({"queues": {"orders": {}}})
    with container:
        connection_string = container.get_connection_string()
        assert f":{container.get_amqp_port()};" in connection_string
        with ServiceBusClient.from_connection_string(connection_string, retry_total=0) as client:
            with client.get_queue_sender("orders") as sender:
                sender.send_messages([ServiceBusMessage(f"order {i}", message_id=f"o-{i}") for i in range(3)])
            with client.get_queue_receiver("orders", max_wait_time=5) as receiver:
                received = []
                while len(received) < 3:
                    batch = receiver.receive_messages(max_message_count=3, max_wait_time=5)
                    assert batch, f"only {len(received)} of 3 messages arrived"
                    for message in batch:
                        received.append(str(message))
                        receiver.complete_message(message)
        assert received == ["order 0", "order 1", "order 2"]
        assert call("GET", f"{container.get_http_url()}/v1/queues/orders")["active_count"] == 0


def test_a_sas_key_is_required_once_set(emulator_image: str, test_label: dict[str, str]) -> None:
    container = emulator(emulator_image, test_label).with_sas_key("s3cret-key").with_auto_create()
    with container:
        good = container.get_connection_string()
        assert "SharedAccessKey=s3cret-key;" in good
        assert "s3cret-key" not in repr(container)
        with ServiceBusClient.from_connection_string(good, retry_total=0) as client:
            with client.get_queue_sender("signed") as sender:
                sender.send_messages(ServiceBusMessage("signed"))
        wrong = good.replace("s3cret-key", "wrong-key")
        with ServiceBusClient.from_connection_string(wrong, retry_total=0) as client:
            with pytest.raises(ServiceBusAuthenticationError):
                with client.get_queue_sender("signed") as sender:
                    sender.send_messages(ServiceBusMessage("unsigned"))
        assert call("GET", f"{container.get_http_url()}/v1/queues/signed")["active_count"] == 1


def test_two_containers_in_parallel_have_their_own_ports_and_queues(
    emulator_image: str, test_label: dict[str, str]
) -> None:
    first = emulator(emulator_image, test_label)
    second = emulator(emulator_image, test_label)
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda c: c.start(), (first, second)))
        urls = {first.get_http_url(), second.get_http_url()}
        amqp = {first.get_amqp_port(), second.get_amqp_port()}
        assert len(urls) == 2 and len(amqp) == 2
        call("PUT", f"{first.get_http_url()}/v1/queues/only-in-first", {})
        assert [q["name"] for q in call("GET", f"{first.get_http_url()}/v1/queues")["queues"]] == ["only-in-first"]
        assert call("GET", f"{second.get_http_url()}/v1/queues")["queues"] == []
    finally:
        first.stop()
        second.stop()


def test_start_returns_only_once_the_emulator_answers(emulator_image: str, test_label: dict[str, str]) -> None:
    # The emulator starts two seconds late: start() must wait, and the first request after it must succeed.
    late = emulator(emulator_image, test_label).with_kwargs(
        entrypoint=["python3", "-c", "import os, time; time.sleep(2); os.execvp('queue-emulator', ['queue-emulator'])"]
    )
    began = time.monotonic()
    with late:
        waited = time.monotonic() - began
        assert call("GET", f"{late.get_http_url()}/health")["status"] == "ok"
    assert waited >= 2.0


def test_a_readiness_line_without_an_answering_server_is_not_ready(
    emulator_image: str, test_label: dict[str, str]
) -> None:
    # Prints the readiness line, then serves nothing: the log line alone must not count as ready.
    liar = emulator(emulator_image, test_label)
    liar.startup_timeout = 4
    liar.with_kwargs(entrypoint=[
        "python3", "-c", "import time; print('queue-emulator listening on http://0.0.0.0:8080', flush=True); "
        "time.sleep(60)",
    ])
    with pytest.raises(ContainerStartException, match="did not become ready"):
        liar.start()
    # start() removed the container it made (test_label checks that no labelled container is left).


def test_an_emulator_that_exits_fails_start_with_its_own_message(
    emulator_image: str, test_label: dict[str, str]
) -> None:
    broken = emulator(emulator_image, test_label).with_entities({"queues": {"bad name!": {}}})
    with pytest.raises(ContainerStartException, match="exited with code 2 before it was ready") as raised:
        broken.start()
    assert "queue 'bad name!': invalid queue_name" in str(raised.value)


def test_other_containers_on_a_network_reach_it_by_alias(emulator_image: str, test_label: dict[str, str]) -> None:
    probe = (
        "import socket, sys, urllib.request\n"
        "url, connection = sys.argv[1], sys.argv[2]\n"
        "print(urllib.request.urlopen(url + '/health', timeout=5).read().decode())\n"
        "host, port = connection.split('sb://', 1)[1].split(';', 1)[0].rsplit(':', 1)\n"
        "with socket.create_connection((host, int(port)), timeout=5) as s:\n"
        "    s.sendall(b'AMQP\\x03\\x01\\x00\\x00')\n"  # the SASL protocol header; the server answers with its own
        "    print(s.recv(8))\n"
    )
    with Network() as network:
        server = emulator(emulator_image, test_label).with_network(network).with_network_aliases("queues")
        with server:
            assert server.get_network_http_url() == f"http://queues:{HTTP_PORT}"
            connection_string = server.get_network_connection_string()
            assert connection_string.startswith(f"Endpoint=sb://queues:{AMQP_PORT};")
            client = (
                DockerContainer(emulator_image)
                .with_network(network)
                .with_kwargs(
                    entrypoint=["python3", "-c", probe, server.get_network_http_url(), connection_string],
                    labels=test_label,
                )
            )
            with client:
                assert client.wait() == 0, client.get_logs()
                out = client.get_logs()[0].decode()
    assert '{"status":"ok"' in out and "b'AMQP\\x03\\x01\\x00\\x00'" in out


def test_the_default_image_is_the_one_build_py_makes() -> None:
    import runpy

    from queue_emulator.containers import DEFAULT_IMAGE

    build = runpy.run_path(str(Path(__file__).resolve().parents[2] / "emulator" / "container" / "build.py"))
    assert build["default_image"]() == DEFAULT_IMAGE


def test_the_administration_client_manages_the_containers_entities(
    emulator_image: str, test_label: dict[str, str], tmp_path: Path
) -> None:
    from azure.servicebus.management import ServiceBusAdministrationClient

    with emulator(emulator_image, test_label) as container:
        ca = container.write_ca_certificate(tmp_path / "ca.pem")
        with ServiceBusAdministrationClient.from_connection_string(
            container.get_admin_connection_string(), connection_verify=str(ca), retry_total=0
        ) as admin:
            admin.create_queue("provisioned", max_delivery_count=3)
            assert [q.name for q in admin.list_queues()] == ["provisioned"]
        # The same engine: the queue is there over REST and over AMQP at once.
        assert call("GET", f"{container.get_http_url()}/v1/queues/provisioned")["options"]["max_delivery_count"] == 3
        with ServiceBusClient.from_connection_string(container.get_connection_string(), retry_total=0) as client:
            with client.get_queue_sender("provisioned") as sender:
                sender.send_messages(ServiceBusMessage("hello"))
        assert call("GET", f"{container.get_http_url()}/v1/queues/provisioned")["active_count"] == 1


def test_builders_reject_what_the_image_fixes(emulator_image: str) -> None:
    container = QueueEmulatorContainer(emulator_image)
    with pytest.raises(ValueError, match="fixed by the image"):
        container.with_setting("port", 9000)
    with pytest.raises(ValueError, match="not an emulator setting"):
        container.with_setting("colour", "blue")
    assert container.with_setting("max_queues", 7).env["QUEUE_EMULATOR_MAX_QUEUES"] == "7"
    with pytest.raises(FileNotFoundError):
        container.with_entity_file("/nonexistent/entities.yaml")


def test_published_ports_are_on_the_host(emulator_image: str, test_label: dict[str, str]) -> None:
    with emulator(emulator_image, test_label) as container:
        host = container.get_container_host_ip()
        with socket.create_connection((host, container.get_amqp_port()), timeout=5) as sock:
            sock.sendall(b"AMQP\x03\x01\x00\x00")
            assert sock.recv(8) == b"AMQP\x03\x01\x00\x00"
        with pytest.raises(urllib.error.HTTPError) as missing:
            call("GET", f"{container.get_http_url()}/v1/queues/nothing-here")
        assert missing.value.code == 404


def test_docker_stop_shuts_it_down_gracefully(emulator_image: str, test_label: dict[str, str]) -> None:
    with emulator(emulator_image, test_label) as container:
        wrapped = container.get_wrapped_container()
        wrapped.stop(timeout=20)  # SIGTERM; SIGKILL (exit code 137) only after 20 s
        wrapped.reload()
        assert wrapped.attrs["State"]["ExitCode"] == 0  # it exited on SIGTERM, by itself
        assert "INFO queue_emulator: stopped" in container.get_logs()[1].decode()  # the last log line, on stderr


def test_a_data_volume_keeps_messages_across_docker_kill(emulator_image: str, test_label: dict[str, str]) -> None:
    """``docker kill`` is SIGKILL: an acknowledged send survives it, and a new container on the volume has it."""
    import docker

    volume = f"queue-emulator-test-{time.monotonic_ns()}"
    client = docker.from_env()
    try:
        with emulator(emulator_image, test_label).with_data_volume(volume) as container:
            url = container.get_http_url()
            call("PUT", f"{url}/v1/queues/kept", {"duplicate_detection_window": 600})
            body = base64.b64encode(b"survives a kill").decode()
            [seq] = call("POST", f"{url}/v1/queues/kept/messages",
                         {"messages": [{"body": body, "message_id": "k-1"}]})["sequence_numbers"]
            container.get_wrapped_container().kill()  # SIGKILL: no shutdown at all
        with emulator(emulator_image, test_label).with_data_volume(volume) as container:
            url = container.get_http_url()
            call("POST", f"{url}/v1/queues/kept/messages", {"messages": [{"body": body, "message_id": "k-1"}]})
            got = call("POST", f"{url}/v1/queues/kept/messages/receive", {"max_messages": 5})["messages"]
            assert [(m["sequence_number"], base64.b64decode(m["body"])) for m in got] == [(seq, b"survives a kill")]
    finally:
        client.volumes.get(volume).remove(force=True)
        client.close()
