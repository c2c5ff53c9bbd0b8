"""The Azure Service Bus dialect of AMQP 1.0: addresses, ``$cbs``, ``$management``, entity nodes, message mapping
and error conditions. The transport (``..connection``, ``..session``, ``..link``, ``..server``) knows none of this.

``create_servicebus_server(broker, waiter).start()`` listens on loopback; the unmodified ``azure-servicebus`` SDK
connects with ``Endpoint=sb://127.0.0.1:<port>;SharedAccessKeyName=...;SharedAccessKey=...;UseDevelopmentEmulator=true``.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence

from queue_runtime.broker import Broker
from queue_runtime.broker.waiting import BrokerWaiter

from ...faults import FaultInjector
from ...sas import RIGHTS, SasRule
from ..protocol.errors import AmqpFault
from ..protocol.sasl import SaslPolicy
from ..server import DEFAULT_MAX_FRAME_SIZE, AmqpServer
from .addresses import check_entity, parse_address
from .cbs import CbsNode, SasVerifier
from .directory import ServiceBusNodes

__all__ = ["RIGHTS", "SasRule", "ServiceBusNodes", "create_servicebus_server"]


def create_servicebus_server(
    broker: Broker,
    waiter: BrokerWaiter,
    *,
    host: str = "127.0.0.1",
    port: int = 5672,
    sas_key_name: str | None = None,
    sas_key: str | None = None,
    sas_rules: Sequence[SasRule] = (),
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    idle_timeout: float | None = None,
    faults: FaultInjector | None = None,
    tls: ssl.SSLContext | None = None,
    tls_port: int = 5671,
    handshake_timeout: float = 30.0,
) -> AmqpServer:
    """An AMQP server speaking Service Bus over ``broker``.

    ``sas_key`` (one Manage rule named ``sas_key_name``) and ``sas_rules`` (rules with rights) switch
    authorization on: tokens, SASL PLAIN and the claims of every link and management operation are checked.
    ``faults`` (the emulator's shared injector) applies injected faults in Service Bus's forms. ``tls`` adds an
    ``amqps`` listener on ``tls_port`` beside the plain one, over the same nodes."""
    rules = tuple(sas_rules)
    if sas_key is not None:
        rules = (*SasVerifier.single(sas_key_name, sas_key).rules, *rules)
    verifier = SasVerifier(rules)

    def entity_problem(path: str) -> AmqpFault | None:
        address = parse_address(path)
        if address is None or address.kind == "cbs":
            return None
        try:
            check_entity(broker, address)
        except AmqpFault as fault:
            return fault
        return None

    nodes = ServiceBusNodes(broker, waiter, CbsNode(verifier, entity_problem), faults)
    credentials = {rule.name: rule.key.get_secret_value() for rule in rules} if rules else None
    return AmqpServer(nodes, sasl=SaslPolicy(credentials), host=host, port=port,
                      max_frame_size=max_frame_size, idle_timeout=idle_timeout, tls=tls, tls_port=tls_port,
                      handshake_timeout=handshake_timeout)
