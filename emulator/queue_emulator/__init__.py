"""queue-emulator: a local Service Bus-like broker (REST API; AMQP 1.0 front later). See docs/emulator.md."""

__version__ = "0.1.0"
