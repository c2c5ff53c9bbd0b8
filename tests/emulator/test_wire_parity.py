"""The hand-built receive JSON equals what the documented pydantic schema (MessageOut) would produce."""

from __future__ import annotations

import json

from queue_emulator.rest.wire import MessageOut, message_json

from queue_runtime.broker import Broker, BrokerMessage, ManualClock


def test_message_json_matches_the_openapi_schema_model() -> None:
    broker = Broker(ManualClock(start=1_700_000_000.25))
    broker.create_queue("q")
    broker.send("q", [
        BrokerMessage(body=b"\x00\xff", message_id="m", session_id=None, correlation_id="c", content_type="x/y",
                      subject="s", reply_to="r", to="t", time_to_live=60.5, application_properties={
                          "s": "v", "i": 3, "f": 1.5, "b": True, "n": None, "raw": b"\x01"}),
        BrokerMessage(body=b"", scheduled_enqueue_time=1_700_000_000.25),
    ])
    received = broker.receive("q", 2)
    assert len(received) == 2
    for message in received:
        expected = json.loads(MessageOut.from_broker(message).model_dump_json())
        assert message_json(message) == expected
