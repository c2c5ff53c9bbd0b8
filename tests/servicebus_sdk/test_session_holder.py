"""Only the holder of a session lock may read or write its state or renew its lock (as on Service Bus).

The rival is a second connection that holds another session of the same queue and sends the real SDK's session
management requests naming the first session: the wire requests are exactly what the SDK sends, only the session id
is someone else's.
"""

from __future__ import annotations

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus.exceptions import SessionLockLostError

from .conftest import Emulator

WAIT = 1


def test_another_connection_cannot_read_write_or_renew_a_session_it_does_not_hold(emulator: Emulator) -> None:
    queue = emulator.queue(sessions=True)
    owner_sb = ServiceBusClient.from_connection_string(emulator.connection_string(), retry_total=0)
    rival_sb = ServiceBusClient.from_connection_string(emulator.connection_string(), retry_total=0)
    with owner_sb, rival_sb:
        with owner_sb.get_queue_sender(queue) as sender:
            sender.send_messages([ServiceBusMessage("a", session_id="A"), ServiceBusMessage("b", session_id="B")])
        with owner_sb.get_queue_receiver(queue, session_id="A", max_wait_time=WAIT) as owner, \
                rival_sb.get_queue_receiver(queue, session_id="B", max_wait_time=WAIT) as rival:
            owner.session.set_state(b"owner's secret")
            rival.session._session_id = "A"  # the rival names a session it does not hold
            with pytest.raises(SessionLockLostError):
                rival.session.get_state()
            with pytest.raises(SessionLockLostError):
                rival.session.set_state(b"overwritten")
            with pytest.raises(SessionLockLostError):
                rival.session.renew_lock()
            # the holder is unaffected
            assert owner.session.get_state() == b"owner's secret"
            assert owner.session.renew_lock() is not None
