"""Helpers shared by the SQS provider tests (a module of its own: ``conftest`` is not importable by name)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from queue_runtime import AwsSqsConfig, QueueName, QueueOptions
from queue_runtime.providers.sqs import SqsProvider

SECRET = "moto-secret-key-that-must-never-be-printed"
ACCESS_KEY = "AKIAQUEUERUNTIMETEST"

MakeProvider = Callable[..., SqsProvider]


def sqs_config(endpoint: str, **settings: Any) -> AwsSqsConfig:
    settings.setdefault("access_key_id", ACCESS_KEY)
    settings.setdefault("secret_access_key", SECRET)
    return AwsSqsConfig(region="us-east-1", endpoint_url=endpoint, **settings)


def unique_name() -> QueueName:
    return QueueName(f"t-{uuid.uuid4().hex[:16]}")


async def make_queue(provider: SqsProvider, **options: Any) -> QueueName:
    """A new queue with a unique name; ``lock_duration`` may be given in seconds."""
    if isinstance(options.get("lock_duration"), int | float):
        options["lock_duration"] = timedelta(seconds=options["lock_duration"])
    name = unique_name()
    await provider.create_queue(name, QueueOptions(**options))
    return name
