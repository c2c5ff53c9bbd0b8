"""The AMQP 1.0 front of the emulator, in three layers that only import downwards:

- ``protocol/``: pure AMQP 1.0 (types, codec, performatives, message sections, frames, SASL); no I/O.
- the transport: ``connection``, ``session``, ``link``, ``server``; each child calls its parent through a small
  protocol (``SessionConnection``, ``LinkSession``), and links reach their dialect through ``NodeDirectory``.
- ``servicebus/``: the Azure Service Bus dialect ($cbs, $management, entity nodes, message mapping, errors).
"""
