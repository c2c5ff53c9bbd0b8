"""``queue-emulator`` / ``python -m queue_emulator``: parse flags and environment, then serve until a signal.

The first line on stdout is always ``queue-emulator listening on http://HOST:PORT`` (flushed), so that tools
starting the emulator can read the port when they asked for ``--port 0``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence

from pydantic import ValidationError as PydanticValidationError

from queue_runtime.errors import ConfigurationError

from . import __version__
from .server import start_server
from .settings import EmulatorSettings

__all__ = ["build_parser", "main", "settings_from"]

log = logging.getLogger("queue_emulator")


def build_parser() -> argparse.ArgumentParser:
    fields = EmulatorSettings.model_fields

    def helptext(name: str) -> str:
        return f"{fields[name].description} [env QUEUE_EMULATOR_{name.upper()}; default {fields[name].default}]"

    parser = argparse.ArgumentParser(
        prog="queue-emulator", description="A local queue broker with a REST API, a control API and a dashboard."
    )
    parser.add_argument("--version", action="version", version=f"queue-emulator {__version__}")
    parser.add_argument("--host", help=helptext("host"))
    parser.add_argument("--port", type=int, help=helptext("port"))
    parser.add_argument("--clock", choices=["system", "manual"], help=helptext("clock"))
    parser.add_argument("--auto-create", action=argparse.BooleanOptionalAction, default=None,
                        help=helptext("auto_create"))
    parser.add_argument("--entity-file", help=helptext("entity_file"))
    parser.add_argument("--max-message-size", type=int, help=helptext("max_message_size"))
    parser.add_argument("--max-request-size", type=int, help=helptext("max_request_size"))
    parser.add_argument("--max-batch-size", type=int, help=helptext("max_batch_size"))
    parser.add_argument("--max-queues", type=int, help=helptext("max_queues"))
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error", "critical"],
                        help=helptext("log_level"))
    parser.add_argument("--amqp", action=argparse.BooleanOptionalAction, default=None, help=helptext("amqp"))
    parser.add_argument("--amqp-port", type=int, help=helptext("amqp_port"))
    parser.add_argument("--allowed-origins", help=helptext("allowed_origins"))
    parser.add_argument("--allowed-hosts", help=helptext("allowed_hosts"))
    parser.add_argument("--sas-key-name", help=helptext("sas_key_name"))
    parser.add_argument("--sas-key", help=helptext("sas_key").replace("default None", "default unset"))
    return parser


def settings_from(argv: Sequence[str] | None, environ: Mapping[str, str]) -> EmulatorSettings:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return EmulatorSettings.resolve(vars(args), environ)
    except PydanticValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        parser.error(problems)  # exits with status 2


async def serve(settings: EmulatorSettings) -> None:
    server = await start_server(settings)
    print(f"queue-emulator listening on {server.url}", flush=True)
    print(f"  REST API   {server.url}/v1  (OpenAPI: {server.url}/v1/openapi.json)", flush=True)
    print(f"  dashboard  {server.url}/", flush=True)
    print(f"  clock      {settings.clock}; auto-create {'on' if settings.auto_create else 'off'}", flush=True)
    if server.amqp_port is not None:
        print(f"  AMQP 1.0   amqp://{settings.host}:{server.amqp_port} (Azure Service Bus)", flush=True)
        print(f"  connection string  {server.servicebus_connection_string}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("shutting down: finishing in-flight requests")
        await server.stop()
    print("queue-emulator stopped", flush=True)


# Loggers that print credentials at DEBUG (botocore logs request headers with AWS session tokens, and its event
# hooks with the parameters): our debug level never reaches them.
QUIET_LOGGERS = ("botocore", "aiobotocore", "boto3", "urllib3")


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    for name in QUIET_LOGGERS:
        quiet = logging.getLogger(name)
        if quiet.level == logging.NOTSET or quiet.level < logging.INFO:
            quiet.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    settings = settings_from(argv, os.environ)
    configure_logging(settings.log_level)
    try:
        asyncio.run(serve(settings))
    except ConfigurationError as exc:
        print(f"queue-emulator: {exc.message}", file=sys.stderr, flush=True)
        return 2
    except OSError as exc:
        print(f"queue-emulator: cannot listen on {settings.host} (HTTP port {settings.port}, AMQP port "
              f"{settings.amqp_port if settings.amqp else 'off'}): {exc.strerror}", file=sys.stderr, flush=True)
        return 1
    return 0
