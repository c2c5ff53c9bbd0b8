"""SQS' limits and the names queue-runtime reserves on it (shared by every module of the package)."""

from __future__ import annotations

__all__ = [
    "FIFO_SUFFIX",
    "MAX_BATCH",
    "MAX_DELAY_SECONDS",
    "MAX_DELIVERY_REASON",
    "MAX_QUEUE_NAME",
    "MAX_RECEIVE_COUNT",
    "MAX_SQS_ATTRIBUTES",
    "MAX_USER_ATTRIBUTES",
    "MAX_WAIT_SECONDS",
    "METADATA_RESERVE",
    "META_ATTRIBUTE",
    "OPTIONS_TAG",
    "RETENTION_SECONDS",
    "SQS_MAX_MESSAGE_SIZE",
    "TTL_EXPIRED_REASON",
]

SQS_MAX_MESSAGE_SIZE = 1024 * 1024
"""What SQS accepts per message and per batch request: body plus attribute names, types, values (bytes)."""
METADATA_RESERVE = 4096
"""Bytes of the SQS limit kept for ``qr.meta`` and attribute types (max_message_size = 1 MiB - this)."""
META_ATTRIBUTE = "qr.meta"
MAX_SQS_ATTRIBUTES = 10
MAX_USER_ATTRIBUTES = MAX_SQS_ATTRIBUTES - 1
MAX_BATCH = 10
MAX_DELAY_SECONDS = 900
MAX_WAIT_SECONDS = 20
MAX_QUEUE_NAME = 80
MAX_RECEIVE_COUNT = 1000
RETENTION_SECONDS = 1_209_600  # the SQS maximum (14 days): TTL is ours, enforced on receive
FIFO_SUFFIX = ".fifo"
OPTIONS_TAG = "queue-runtime"
MAX_DELIVERY_REASON = "MaxDeliveryCountExceeded"
TTL_EXPIRED_REASON = "TTLExpiredException"
