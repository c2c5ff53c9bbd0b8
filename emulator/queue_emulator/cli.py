"""``queue-emulator`` / ``python -m queue_emulator``: parse flags and environment, then serve until a signal.

The first line on stdout is always ``queue-emulator listening on http://HOST:PORT`` (flushed), so that tools
starting the emulator can read the port when they asked for ``--port 0``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.handlers
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence

from pydantic import ValidationError as PydanticValidationError

from queue_runtime._validation import plain_errors
from queue_runtime.errors import ConfigurationError

from . import __version__
from .server import start_server
from .settings import ENV_PREFIX, EmulatorSettings

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
    parser.add_argument("--data-dir", help=helptext("data_dir"))
    parser.add_argument("--data-sync", choices=["normal", "full"], help=helptext("data_sync"))
    parser.add_argument("--journal-size", type=int, help=helptext("journal_size"))
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error", "critical"],
                        help=helptext("log_level"))
    parser.add_argument("--amqp", action=argparse.BooleanOptionalAction, default=None, help=helptext("amqp"))
    parser.add_argument("--amqp-port", type=int, help=helptext("amqp_port"))
    parser.add_argument("--amqp-websocket", action=argparse.BooleanOptionalAction, default=None,
                        help=helptext("amqp_websocket"))
    parser.add_argument("--amqp-websocket-port", type=int, help=helptext("amqp_websocket_port"))
    parser.add_argument("--amqps", action=argparse.BooleanOptionalAction, default=None, help=helptext("amqps"))
    parser.add_argument("--amqps-port", type=int, help=helptext("amqps_port"))
    parser.add_argument("--tls-dir", help=helptext("tls_dir"))
    parser.add_argument("--admin", action=argparse.BooleanOptionalAction, default=None, help=helptext("admin"))
    parser.add_argument("--admin-port", type=int, help=helptext("admin_port"))
    parser.add_argument("--admin-tls-port", type=int, help=helptext("admin_tls_port"))
    parser.add_argument("--allowed-origins", help=helptext("allowed_origins"))
    parser.add_argument("--allowed-hosts", help=helptext("allowed_hosts"))
    parser.add_argument("--sas-key-name", help=helptext("sas_key_name"))
    parser.add_argument("--sas-key", help=helptext("sas_key").replace("default None", "default unset")
                        + " (visible in the process list: prefer the variable or --sas-key-file)")
    parser.add_argument("--sas-key-file", help=helptext("sas_key_file"))
    parser.add_argument("--sas-rule", dest="sas_rules", action="append", metavar="NAME:RIGHTS:KEY",
                        help=helptext("sas_rules").replace("default ()", "default none") + "; repeatable")
    return parser


def settings_from(argv: Sequence[str] | None, environ: Mapping[str, str]) -> EmulatorSettings:
    parser = build_parser()
    args = parser.parse_args(argv)
    flags = vars(args)

    def source(loc: tuple[object, ...]) -> str:
        """The flag or the environment variable a bad value came from, as the user wrote it."""
        field = str(loc[0]) if loc else ""
        if flags.get(field) is not None:
            return "--" + field.replace("_", "-")
        variable = ENV_PREFIX + field.upper()
        if not field:
            return "settings"
        return variable if "key" in field else f"{variable}={environ.get(variable)!r}"  # never echo a key

    try:
        return EmulatorSettings.resolve(flags, environ)
    except PydanticValidationError as exc:
        parser.error(plain_errors(exc, source))  # exits with status 2


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


# Loggers that print credentials at DEBUG (botocore logs request headers with AWS session tokens, and its event
# hooks with the parameters): our debug level never reaches them.
QUIET_LOGGERS = ("botocore", "aiobotocore", "boto3", "urllib3")


def configure_logging(level: str) -> Callable[[], None]:
    """The one log format, on stderr. Records are held until the returned ``release()`` is called, so that the
    banner's ``queue-emulator listening on ...`` is the first line even when stderr is merged into stdout (docker
    logs, CI, ``subprocess`` with ``stderr=STDOUT``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    held = logging.handlers.MemoryHandler(capacity=100_000, flushLevel=logging.CRITICAL + 1, target=handler)
    root = logging.getLogger()
    root.setLevel(level.upper())
    root.addHandler(held)
    for name in QUIET_LOGGERS:
        quiet = logging.getLogger(name)
        if quiet.level == logging.NOTSET or quiet.level < logging.INFO:
            quiet.setLevel(logging.INFO)

    def release() -> None:
        if held in root.handlers:
            root.removeHandler(held)
            root.addHandler(handler)
            held.flush()
            held.close()

    return release


async def serve(settings: EmulatorSettings, release_logs: Callable[[], None] = lambda: None) -> None:
    server = await start_server(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):  # before the banner: whoever reads it may stop us at once
        loop.add_signal_handler(signum, stop.set)
    print(f"queue-emulator listening on {server.url}", flush=True)
    print(f"  REST API   {server.url}/v1  (OpenAPI: {server.url}/v1/openapi.json)", flush=True)
    print(f"  dashboard  {server.url}/", flush=True)
    print(f"  clock      {settings.clock}; auto-create {'on' if settings.auto_create else 'off'}", flush=True)
    if settings.data_dir is not None:
        print(f"  data dir   {settings.data_dir} (kept across restarts; sync {settings.data_sync})", flush=True)
    if server.amqp_port is not None:
        print(f"  AMQP 1.0   amqp://{settings.host}:{server.amqp_port} (Azure Service Bus)", flush=True)
        print(f"  connection string  {server.servicebus_connection_string}", flush=True)
    if server.amqp_websocket_port is not None:
        print(f"  AMQP WS    ws://{settings.host}:{server.amqp_websocket_port}/$servicebus/websocket "
              f"(custom_endpoint_address=\"sb://{settings.host}:{server.amqp_websocket_port}\")", flush=True)
    if server.amqps_port is not None:
        print(f"  AMQP TLS   amqps://{settings.host}:{server.amqps_port} (certificate signed by the CA below)",
              flush=True)
    if server.admin_tls_port is not None:
        print(f"  admin      https://{settings.host}:{server.admin_tls_port} and http://{settings.host}:"
              f"{server.admin_port} (ServiceBusAdministrationClient)", flush=True)
        print(f"  admin connection string  {server.servicebus_admin_connection_string}", flush=True)
    if server.ca_path is not None:
        print(f"  CA bundle  {server.ca_path}  (connection_verify=...)", flush=True)
    release_logs()  # what was logged while starting comes after the banner
    try:
        await stop.wait()
    finally:
        log.info("shutting down: finishing in-flight requests")
        await server.stop()
    log.info("stopped")


def main(argv: Sequence[str] | None = None) -> int:
    settings = settings_from(argv, os.environ)
    release_logs = configure_logging(settings.log_level)
    try:
        asyncio.run(serve(settings, release_logs))
    except ConfigurationError as exc:
        print(f"queue-emulator: {exc.message}", file=sys.stderr, flush=True)
        return 2
    except OSError as exc:
        print(f"queue-emulator: cannot listen on {settings.host} (HTTP port {settings.port}, AMQP port "
              f"{settings.amqp_port if settings.amqp else 'off'}, admin ports "
              f"{f'{settings.admin_port}/{settings.admin_tls_port}' if settings.admin else 'off'}): "
              f"{exc.strerror}", file=sys.stderr, flush=True)
        return 1
    finally:
        release_logs()
    return 0
