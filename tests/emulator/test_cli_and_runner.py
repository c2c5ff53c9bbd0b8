"""The command line, settings resolution, the in-thread runner and provider creation from a URL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError as PydanticValidationError
from queue_emulator.cli import settings_from
from queue_emulator.runner import EmulatorThread
from queue_emulator.settings import EmulatorSettings

from queue_runtime import EmulatorConfig, Message, QueueClientFactory, QueueConfig, QueueName, QueueOptions
from queue_runtime.errors import MessageLockLostError, QueueConnectionError, ServiceUnavailableError
from queue_runtime.providers import create_provider
from queue_runtime.providers.emulator import EmulatorControl, EmulatorProvider


def test_flags_beat_environment_which_beats_defaults() -> None:
    env = {"QUEUE_EMULATOR_PORT": "9000", "QUEUE_EMULATOR_CLOCK": "MANUAL", "QUEUE_EMULATOR_AUTO_CREATE": "true",
           "QUEUE_EMULATOR_MAX_QUEUES": "50", "QUEUE_EMULATOR_LOG_LEVEL": "debug"}
    settings = settings_from(["--port", "0", "--max-batch-size", "10"], env)
    assert (settings.port, settings.clock, settings.auto_create, settings.max_queues) == (0, "manual", True, 50)
    assert (settings.max_batch_size, settings.log_level, settings.host) == (10, "debug", "127.0.0.1")
    assert settings_from(["--no-auto-create"], env).auto_create is False
    assert settings_from([], {}) == EmulatorSettings()
    with pytest.raises(SystemExit):
        settings_from(["--port", "70000"], {})
    with pytest.raises(PydanticValidationError):
        EmulatorSettings.resolve({}, {"QUEUE_EMULATOR_MAX_QUEUES": "zero"})


def _emulator_process(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "queue_emulator", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})},
    )


def test_cli_prints_its_url_first_and_stops_cleanly_on_sigterm() -> None:
    process = _emulator_process("--port", "0", "--amqp-port", "0", "--admin-port", "0", "--admin-tls-port", "0",
                                env={"QUEUE_EMULATOR_CLOCK": "manual"})
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        prefix = "queue-emulator listening on http://127.0.0.1:"
        assert first.startswith(prefix), first
        url = first.removeprefix("queue-emulator listening on ")
        with urllib.request.urlopen(url + "/v1/info", timeout=10) as response:
            assert json.load(response)["clock"] == "manual"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_rejects_a_bad_entity_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("queues: 5")
    process = _emulator_process("--port", "0", "--entity-file", str(bad))
    _, err = process.communicate(timeout=20)
    assert process.returncode == 2 and "queues" in err


@pytest.mark.asyncio
async def test_create_provider_reads_capabilities_from_the_server() -> None:
    with EmulatorThread(EmulatorSettings(clock="manual", max_batch_size=50)) as manual, EmulatorThread() as system:
        provider = await create_provider(EmulatorConfig(url=manual.url))
        assert isinstance(provider, EmulatorProvider)
        assert provider.capabilities.clock_control and provider.capabilities.fault_injection
        assert provider.capabilities.max_batch_size == 50 and provider.clock is not None
        await provider.aclose()
        host = system.url.removeprefix("http://")
        async with await QueueClientFactory.create_client(QueueConfig.from_url(f"emulator://{host}")) as client:
            assert client.capabilities.clock_control is False and client.provider.clock is None
            await client.create_queue(QueueName("orders"))
            await client.send_message("orders", Message(b"hi"))
            got = await client.receive_message("orders", timedelta(seconds=1))
            assert got is not None and got.body == b"hi"
            await client.complete_message(got)
        assert len(system.broker.queue_names()) == 1


@pytest.mark.asyncio
async def test_control_helper_drives_faults_clock_and_stats(emu_thread: EmulatorThread) -> None:
    async with EmulatorControl(emu_thread.url) as control:
        await control.reset()
        provider = await EmulatorProvider.connect(EmulatorConfig(url=emu_thread.url))
        try:
            await provider.create_queue(QueueName("q"), QueueOptions())
            await control.faults.inject("send", error="service_unavailable", count=1)
            with pytest.raises(ServiceUnavailableError) as caught:
                await provider.send_messages(QueueName("q"), [Message(b"x")])
            assert caught.value.transient
            await provider.send_messages(QueueName("q"), [Message(b"x")])
            [got] = await provider.receive_messages(QueueName("q"), 1, timedelta(0))
            await control.faults.lose_lock(got.receipt_handle)
            with pytest.raises(MessageLockLostError):
                await provider.complete(got.receipt_handle)
            before = await control.clock.now()
            assert await control.clock.advance(timedelta(seconds=5)) == before + timedelta(seconds=5)
            stats = await control.stats()
            assert stats["messages"] == 1 and stats["faults_injected"] == 2
        finally:
            await provider.aclose()


@pytest.mark.asyncio
async def test_unreachable_emulator_is_a_connection_error() -> None:
    with EmulatorThread() as emulator:
        url = emulator.url
    with pytest.raises(QueueConnectionError):
        await EmulatorProvider.connect(EmulatorConfig(url=url))


def test_debug_logging_never_turns_on_loggers_that_print_credentials() -> None:
    import logging

    from queue_emulator.cli import QUIET_LOGGERS, configure_logging

    root = logging.getLogger()
    saved = root.level, list(root.handlers), {n: logging.getLogger(n).level for n in QUIET_LOGGERS}
    try:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        configure_logging("debug")
        assert root.isEnabledFor(logging.DEBUG)
        for name in ("botocore", "botocore.endpoint", "aiobotocore.endpoint", "urllib3.connectionpool"):
            assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name
    finally:
        root.setLevel(saved[0])
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[1]:
            root.addHandler(handler)
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
def test_a_bad_environment_value_names_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        settings_from([], {"QUEUE_EMULATOR_MAX_QUEUES": "zero"})
    assert "QUEUE_EMULATOR_MAX_QUEUES='zero': Input should be a valid integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        settings_from(["--max-queues", "0"], {"QUEUE_EMULATOR_MAX_QUEUES": "5"})
    assert "error: --max-queues: Input should be greater than or equal to 1" in capsys.readouterr().err
    from queue_runtime.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="QUEUE_RUNTIME_RETRY_MAX_ATTEMPTS='lots': Input should be"):
        QueueConfig.from_env({"QUEUE_RUNTIME_RETRY_MAX_ATTEMPTS": "lots"})


def test_the_first_line_is_the_address_with_stderr_merged_and_logs_share_one_format() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "queue_emulator", "--port", "0", "--amqp-port", "0",
            "--admin-port", "0", "--admin-tls-port", "0", "--log-level", "debug"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("queue-emulator listening on http://127.0.0.1:"), first
        banner = [process.stdout.readline() for _ in range(5)]  # REST, dashboard, clock, AMQP, connection string
        assert banner[-1].startswith("  connection string  Endpoint=sb://"), banner
        process.send_signal(signal.SIGTERM)
        rest = process.stdout.read()  # not communicate(): it would skip what readline() already buffered
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log_line = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ")
    lines = [line for line in rest.splitlines() if line.strip() and not line.startswith("  ")]  # banner: indented
    assert any("AMQP front listening" in line for line in lines), rest  # held back until after the banner
    assert all(log_line.match(line) for line in lines), rest
