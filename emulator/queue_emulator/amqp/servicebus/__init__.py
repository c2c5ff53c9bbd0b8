"""The Azure Service Bus dialect of AMQP 1.0: addresses, ``$cbs``, ``$management``, entity nodes, message mapping
and error conditions. The transport (``..connection``, ``..session``, ``..link``, ``..server``) knows none of this.

``create_servicebus_server(broker, waiter).start()`` listens on loopback; the unmodified ``azure-servicebus`` SDK
connects with ``Endpoint=sb://127.0.0.1:<port>;SharedAccessKeyName=...;SharedAccessKey=...;UseDevelopmentEmulator=true``.
"""

from __future__ import annotations

from queue_runtime.broker import Broker
from queue_runtime.broker.waiting import BrokerWaiter

from ..protocol.sasl import SaslPolicy
from ..server import DEFAULT_MAX_FRAME_SIZE, AmqpServer
from .cbs import CbsNode, SasVerifier
from .directory import ServiceBusNodes

__all__ = ["ServiceBusNodes", "create_servicebus_server"]


def create_servicebus_server(
    broker: Broker,
    waiter: BrokerWaiter,
    *,
    host: str = "127.0.0.1",
    port: int = 5672,
    sas_key_name: str | None = None,
    sas_key: str | None = None,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    idle_timeout: float | None = None,
    handshake_timeout: float = 30.0,
) -> AmqpServer:
    """An AMQP server speaking Service Bus over ``broker``; with ``sas_key`` set, tokens and SASL PLAIN are checked."""
    nodes = ServiceBusNodes(broker, waiter, CbsNode(SasVerifier(sas_key_name, sas_key)))
    return AmqpServer(nodes, sasl=SaslPolicy(sas_key_name, sas_key), host=host, port=port,
                      max_frame_size=max_frame_size, idle_timeout=idle_timeout,
                      handshake_timeout=handshake_timeout)
