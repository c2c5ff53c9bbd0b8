"""Amazon SQS through aiobotocore (extra ``[sqs]``): see :mod:`.provider` (the module is being split up)."""

from .provider import (
    MAX_USER_ATTRIBUTES,
    META_ATTRIBUTE,
    METADATA_RESERVE,
    SQS_MAX_MESSAGE_SIZE,
    SqsProvider,
    SqsSession,
    map_exceptions,
    wait_time_seconds,
)

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
