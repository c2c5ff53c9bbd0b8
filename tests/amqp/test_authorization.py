"""Authorization below the SDK: raw AMQP clients, the $cbs node and $management answers."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from queue_emulator.amqp.protocol import (
    AMQP_HEADER,
    SASL_HEADER,
    AmqpMessage,
    AmqpValue,
    Attach,
    Begin,
    Detach,
    Flow,
    Frame,
    FrameReader,
    Open,
    Properties,
    ProtocolHeader,
    SaslInit,
    SaslOutcome,
    Transfer,
    encode_frame,
)
from queue_emulator.amqp.protocol.errors import AmqpFault
from queue_emulator.amqp.protocol.performatives import Role, Source, Target
from queue_emulator.amqp.server import AmqpServer
from queue_emulator.amqp.servicebus import create_servicebus_server
from queue_emulator.amqp.servicebus.cbs import Authorizations, CbsNode, SasVerifier
from queue_emulator.amqp.servicebus.management import ManagementNode, SessionRegistry
from queue_emulator.sas import SasRule

from queue_runtime.broker import Broker
from queue_runtime.broker.waiting import BrokerWaiter

pytestmark = pytest.mark.timeout(30)

RULES = (SasRule("listener", SecretStr("listen-key"), frozenset({"Listen"})),
         SasRule("root", SecretStr("root-key"), frozenset({"Manage"})))


class SecuredServer:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.broker = Broker()
        self.broker.create_queue("q")

        async def start() -> AmqpServer:
            server = create_servicebus_server(self.broker, BrokerWaiter(self.broker), port=0, sas_rules=RULES)
            await server.start()
            return server

        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def secured() -> Iterator[SecuredServer]:
    srv = SecuredServer()
    yield srv
    srv.close()


def _frames(sock: socket.socket, until: type, timeout: float = 5.0,
            reader: FrameReader | None = None) -> list[Frame | ProtocolHeader]:
    reader = reader or FrameReader(max_frame_size=1 << 20)
    items: list[Frame | ProtocolHeader] = []
    deadline = time.monotonic() + timeout
    sock.settimeout(timeout)
    while time.monotonic() < deadline:
        data = sock.recv(65536)
        if not data:
            break
        for item in reader.iter_feed(data):
            items.append(item)
            if isinstance(item, Frame) and isinstance(item.performative, SaslOutcome):
                reader.expect_protocol_header()
            if isinstance(item, Frame) and isinstance(item.performative, until):
                return items
    return items


def _attach_without_token(srv: SecuredServer, sasl: SaslInit, role: bool,
                          until: type = Detach) -> list[Frame | ProtocolHeader]:
    sock = socket.create_connection(("127.0.0.1", srv.server.port), timeout=5)
    try:
        terminus = {"target": Target(address="amqps://127.0.0.1/q"), "source": Source(address="me")}
        if role == Role.RECEIVER:
            terminus = {"source": Source(address="amqps://127.0.0.1/q"), "target": Target(address="me")}
        sock.sendall(SASL_HEADER + encode_frame(sasl) + AMQP_HEADER
                     + encode_frame(Open(container_id="raw", max_frame_size=1 << 20))
                     + encode_frame(Begin(next_outgoing_id=0, incoming_window=100, outgoing_window=100))
                     + encode_frame(Attach(name="l", handle=0, role=role, initial_delivery_count=0, **terminus)))
        return _frames(sock, until)
    finally:
        sock.close()


def _detach_error(items: list[Frame | ProtocolHeader]) -> str | None:
    detaches = [i.performative for i in items if isinstance(i, Frame) and isinstance(i.performative, Detach)]
    if not detaches or detaches[-1].error is None:  # type: ignore[union-attr]
        return None
    return str(detaches[-1].error.condition)  # type: ignore[union-attr]


def test_no_link_attaches_to_an_entity_without_a_token(secured: SecuredServer) -> None:
    for role in (Role.SENDER, Role.RECEIVER):
        items = _attach_without_token(secured, SaslInit(mechanism="ANONYMOUS"), role)
        assert _detach_error(items) == "amqp:unauthorized-access"




def test_sasl_plain_with_a_rule_key_grants_that_rules_rights_and_never_logs_the_password(
    secured: SecuredServer, caplog: pytest.LogCaptureFixture
) -> None:
    login = SaslInit(mechanism="PLAIN", initial_response=b"\x00listener\x00listen-key")
    with caplog.at_level(logging.DEBUG, logger="queue_emulator"):
        receiving = _attach_without_token(secured, login, Role.RECEIVER, Attach)
        sending = _attach_without_token(secured, login, Role.SENDER)
    attaches = [i.performative for i in receiving if isinstance(i, Frame) and isinstance(i.performative, Attach)]
    assert attaches and attaches[0].source is not None  # the receiver attached (Listen)
    assert _detach_error(receiving) is None
    assert _detach_error(sending) == "amqp:unauthorized-access"  # the sender did not (no Send)
    assert any("SaslInit" in m for m in caplog.messages)  # the frame was logged ...
    assert not any("listen-key" in m for m in caplog.messages)  # ... without the password
    wrong = SaslInit(mechanism="PLAIN", initial_response=b"\x00listener\x00wrong")
    sock = socket.create_connection(("127.0.0.1", secured.server.port), timeout=5)
    sock.sendall(SASL_HEADER + encode_frame(wrong))
    outcome = [i.performative for i in _frames(sock, SaslOutcome) if isinstance(i, Frame)][-1]
    sock.close()
    assert isinstance(outcome, SaslOutcome) and outcome.code != 0


def _put_token(node: CbsNode, token: str, audience: str) -> tuple[int, object]:
    request = AmqpMessage(properties=Properties(message_id="1"), body=[AmqpValue(token)],
                          application_properties={"operation": "put-token", "type": "jwt", "name": audience})
    reply, grant = node.handle(request)
    assert reply.application_properties is not None
    return int(reply.application_properties["status-code"]), grant


def test_a_token_rejected_with_401_grants_nothing_and_a_token_covers_only_its_resource() -> None:
    verifier = SasVerifier(RULES)
    node = CbsNode(verifier)
    auth = Authorizations(verifier)
    connection = type("Conn", (), {})()
    status, grant = _put_token(node, "SharedAccessSignature sr=x&sig=bad&se=9999999999&skn=root", "sb://h/q")
    assert status == 401 and grant is None
    assert not auth.allows(connection, "q", "Listen")
    token = _sign("sb://h/q", "root", "root-key")
    status, grant = _put_token(node, token, "sb://h/q")
    assert status == 202 and grant is not None
    auth.add(connection, grant)  # type: ignore[arg-type]
    assert auth.allows(connection, "q", "Send") and auth.allows(connection, "q/$DeadLetterQueue", "Listen")
    assert not auth.allows(connection, "other", "Send")
    assert _put_token(node, token, "sb://h/other")[0] == 401  # signed for q, not for other
    expired = _sign("sb://h/q", "root", "root-key", expiry=int(time.time()) - 5)
    assert _put_token(node, expired, "sb://h/q")[0] == 401


def _sign(resource: str, name: str, key: str, expiry: int | None = None) -> str:
    import base64
    import hashlib
    import hmac
    from urllib.parse import quote_plus

    se = expiry if expiry is not None else int(time.time()) + 3600
    sig = base64.b64encode(hmac.new(key.encode(), f"{quote_plus(resource)}\n{se}".encode(), hashlib.sha256)
                           .digest()).decode()
    return f"SharedAccessSignature sr={quote_plus(resource)}&sig={quote_plus(sig)}&se={se}&skn={name}"


def test_a_refused_management_operation_is_answered_401() -> None:
    broker = Broker()
    broker.create_queue("q")
    node = ManagementNode(broker, SessionRegistry())
    request = AmqpMessage(properties=Properties(message_id="m"), body=[AmqpValue({"from-sequence-number": 1,
                                                                                  "message-count": 1})],
                          application_properties={"operation": "com.microsoft:peek-message"})
    verifier = SasVerifier(RULES)
    auth = Authorizations(verifier)
    connection = type("Conn", (), {})()

    def authorize(operation: str, body: object) -> None:
        auth.require(connection, "q", "Listen")

    reply = node.check("q", request, authorize)
    assert reply is not None
    assert reply.application_properties is not None
    assert reply.application_properties["statusCode"] == 401
    assert reply.application_properties["errorCondition"] == "amqp:unauthorized-access"
    assert "'Listen' claim" in reply.application_properties["statusDescription"]
    with pytest.raises(AmqpFault):
        authorize("x", {})


def _put_token_then_attach(srv: SecuredServer, token: str) -> tuple[int, str | None]:
    """Over one raw connection: put ``token`` on $cbs, then attach a sender to q. Returns the put-token status and
    the attach's error condition (None when it attached)."""
    sock = socket.create_connection(("127.0.0.1", srv.server.port), timeout=5)
    try:
        request = AmqpMessage(
            properties=Properties(message_id="put-1", reply_to="cbs-reply"), body=[AmqpValue(token)],
            application_properties={"operation": "put-token", "type": "jwt", "name": "sb://127.0.0.1/q"})
        sock.sendall(
            SASL_HEADER + encode_frame(SaslInit(mechanism="ANONYMOUS")) + AMQP_HEADER
            + encode_frame(Open(container_id="raw", max_frame_size=1 << 20))
            + encode_frame(Begin(next_outgoing_id=0, incoming_window=100, outgoing_window=100))
            + encode_frame(Attach(name="cbs-req", handle=0, role=Role.SENDER, initial_delivery_count=0,
                                  source=Source(address="cbs-req"), target=Target(address="$cbs")))
            + encode_frame(Attach(name="cbs-reply", handle=1, role=Role.RECEIVER,
                                  source=Source(address="$cbs"), target=Target(address="cbs-reply")))
            + encode_frame(Flow(next_incoming_id=0, incoming_window=100, next_outgoing_id=0, outgoing_window=100,
                                handle=1, delivery_count=0, link_credit=10))
            + encode_frame(Transfer(handle=0, delivery_id=0, delivery_tag=b"t0", message_format=0, settled=True),
                           payload=request.encode())
        )
        reader = FrameReader(max_frame_size=1 << 20)
        status: int | None = None
        sock.settimeout(5)
        while status is None:
            data = sock.recv(65536)
            assert data, "the connection closed before the put-token answer"
            for item in reader.iter_feed(data):
                if isinstance(item, Frame) and isinstance(item.performative, SaslOutcome):
                    reader.expect_protocol_header()
                if isinstance(item, Frame) and isinstance(item.performative, Transfer):
                    reply = AmqpMessage.decode(item.payload)
                    assert reply.application_properties is not None
                    status = int(reply.application_properties["status-code"])
        sock.sendall(encode_frame(Attach(name="send", handle=2, role=Role.SENDER, initial_delivery_count=0,
                                         source=Source(address="me"), target=Target(address="amqps://127.0.0.1/q"))))
        items: list[Frame | ProtocolHeader] = []
        sock.settimeout(0.2)
        deadline = time.monotonic() + 1.5  # a refused attach is followed by a detach at once
        while time.monotonic() < deadline and _detach_error(items) is None:
            try:
                items.extend(reader.iter_feed(sock.recv(65536)))
            except TimeoutError:
                continue
        error = _detach_error(items)
        if error is not None:
            return status, error
        attaches = [i.performative for i in items if isinstance(i, Frame) and isinstance(i.performative, Attach)]
        assert [a.name for a in attaches if a.target is not None] == ["send"], items  # type: ignore[union-attr]
        return status, None
    finally:
        sock.close()


def test_only_a_valid_token_lets_a_link_attach(secured: SecuredServer) -> None:
    assert _put_token_then_attach(secured, _sign("sb://127.0.0.1/q", "root", "wrong-key")) == (
        401, "amqp:unauthorized-access")
    assert _put_token_then_attach(secured, _sign("sb://127.0.0.1/q", "listener", "listen-key")) == (
        202, "amqp:unauthorized-access")  # valid, but Listen cannot send
    assert _put_token_then_attach(secured, _sign("sb://127.0.0.1/q", "root", "root-key")) == (202, None)
