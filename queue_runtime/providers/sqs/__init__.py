"""Amazon SQS through aiobotocore (extra ``[sqs]``), with sessions emulated on FIFO message groups.

How our model maps onto SQS (docs/sqs.md has the full story and the table of differences):

- A logical queue ``orders`` is the SQS queue ``{prefix}orders`` (plus ``.fifo`` when ``use_fifo_queues``),
  with its dead-letter queue ``{prefix}orders{dead_letter_queue_suffix}`` joined by a redrive policy.
- Our metadata (message id, correlation id, content type, session id, TTL, schedule, body encoding,
  dead-letter reason) travels in ONE reserved String message attribute, ``qr.meta`` (compact JSON), because
  SQS allows only 10 attributes per message. User attributes are String attributes; at most 9 of them.
- Bodies that are valid UTF-8 made of characters SQS accepts travel verbatim; any other body travels base64
  with ``"enc": "base64"`` in ``qr.meta``; an empty body travels as ``"-"`` with ``"enc": "empty"``.
- Queue options SQS has no attribute for (sessions required, default TTL, dead-letter on expiry) are stored
  in the queue tag ``queue-runtime``.
- A receipt carries the SQS receipt handle plus a small lock record (``provider_data``) with the visibility
  deadline, so a settle after the deadline fails with ``MessageLockLostError`` instead of silently doing
  nothing (SQS accepts stale receipt handles on standard queues).

The package, by idea: ``limits`` (SQS' limits, reserved names), ``errors`` (botocore/AWS errors to ours),
``codec`` (bodies, ``qr.meta``, attributes, send entries, received messages), ``locks`` (queue records, lock
records), ``queues`` (client, names, queue cache, provisioning), ``provider`` (:class:`SqsProvider`: messages)
and ``sessions`` (:class:`SqsSession`).
"""

from __future__ import annotations

from .codec import wait_time_seconds
from .errors import map_exceptions
from .limits import MAX_USER_ATTRIBUTES, META_ATTRIBUTE, METADATA_RESERVE, SQS_MAX_MESSAGE_SIZE
from .provider import SqsProvider
from .sessions import SqsSession

__all__ = [
    "MAX_USER_ATTRIBUTES",
    "METADATA_RESERVE",
    "META_ATTRIBUTE",
    "SQS_MAX_MESSAGE_SIZE",
    "SqsProvider",
    "SqsSession",
    "map_exceptions",
    "wait_time_seconds",
]
