"""queue-emulator: a local Service Bus-like broker (REST API; AMQP 1.0 front later). See docs/emulator.md."""

import logging as _logging

__version__ = "0.1.0"

# Embedded (EmulatorThread in tests) it is a library: silent until the application configures logging;
# the queue-emulator command configures its own handler.
_logging.getLogger("queue_emulator").addHandler(_logging.NullHandler())
