"""The plugin's options, markers and fixtures, each checked in a small project run in a child pytest."""

from __future__ import annotations

import importlib.util
import json
import textwrap
from pathlib import Path

import pytest
from _runner import Run, run_pytest

INI = """
[pytest]
asyncio_mode = strict
asyncio_default_fixture_loop_scope = function
{extra}
"""


def project(pytester: pytest.Pytester, source: str, ini: str = "") -> Path:
    pytester.makefile(".ini", pytest=INI.format(extra=ini))
    pytester.makepyfile(test_project=textwrap.dedent(source))
    return Path(pytester.path)


def run_in(path: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    return run_pytest(*args, cwd=path, env=env)


ROUND_TRIP = """
import pytest
from queue_runtime import Message

@pytest.mark.asyncio
async def test_round_trip(queue_client, queue_name):
    await queue_client.send_message(queue_name, Message(b"hello"))
    received = await queue_client.receive_message(queue_name, timeout=2)
    assert received is not None and received.body == b"hello"
    await queue_client.complete_message(received)
"""


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--queue-provider=nope"], "--queue-provider: 'nope' is not a provider; allowed: azure, emulator, memory"),
        (["--queue-provider=memory,,bogus name"], "--queue-provider: 'bogus name' is not a provider"),
        (
            ["--queue-emulator=podman"],
            "--queue-emulator: 'podman' is not allowed; use inprocess, subprocess, docker or",
        ),
        (
            ["--queue-emulator-clock=fast"],
            "--queue-emulator-clock: 'fast' is not allowed; use manual or system",
        ),
        (
            ["--queue-sqs-endpoint=localhost:9324"],
            "--queue-sqs-endpoint: 'localhost:9324' is not an http(s) URL",
        ),
        (
            ["--queue-provider=no_such_module_xyz:factory"],
            "cannot import provider module 'no_such_module_xyz'",
        ),
        (["--queue-provider=broken_adapters:missing"], "module 'broken_adapters' has no callable 'missing'"),
        (["--queue-provider="], "--queue-provider: an empty provider name"),
        (["--queue-provider= , "], "--queue-provider: an empty provider name"),
        (
            ["--queue-provider=emulator", "--queue-emulator=http://127.0.0.1:1"],
            "--queue-emulator=http://127.0.0.1:1: no emulator answers there",
        ),
    ],
)
def test_a_wrong_option_value_fails_fast_with_one_line(
    pytester: pytest.Pytester, args: list[str], expected: str
) -> None:
    path = project(pytester, ROUND_TRIP)
    result = run_in(path, *args)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and expected in errors[0], result.output
    assert "collected" not in result.output


CONFIG_PROBE = """
from pytest_queue_runtime.config import get_config

def test_probe(request):
    settings = get_config(request.config)
    print("PROVIDERS=" + ",".join(settings.providers), "EMULATOR=" + settings.emulator)
"""


@pytest.mark.parametrize(
    ("ini", "env", "args", "providers", "emulator"),
    [
        ("", {}, [], "memory", "inprocess"),
        ("queue_provider = emulator\nqueue_emulator = subprocess", {}, [], "emulator", "subprocess"),
        (
            "",
            {"PYTEST_QUEUE_PROVIDER": "sqs", "PYTEST_QUEUE_EMULATOR": "http://10.0.0.5:8080"},
            [],
            "sqs",
            "http://10.0.0.5:8080",
        ),
        ("queue_provider = emulator", {"PYTEST_QUEUE_PROVIDER": "sqs"}, [], "emulator", "inprocess"),
        (
            "queue_provider = emulator",
            {"PYTEST_QUEUE_PROVIDER": "sqs"},
            ["--queue-provider=memory,emulator"],
            "memory,emulator",
            "inprocess",
        ),
    ],
    ids=["defaults", "ini", "env", "ini-beats-env", "cli-beats-all"],
)
def test_each_option_reads_cli_then_ini_then_env_then_default(
    pytester: pytest.Pytester, ini: str, env: dict[str, str], args: list[str], providers: str, emulator: str
) -> None:
    path = project(pytester, CONFIG_PROBE, ini)
    result = run_in(path, "-s", *args, env=env)
    assert result.returncode == 0, result.output
    assert f"PROVIDERS={providers} EMULATOR={emulator}" in result.output


def test_every_option_has_an_ini_twin_and_help(pytester: pytest.Pytester) -> None:
    from pytest_queue_runtime.config import OPTIONS

    path = project(pytester, ROUND_TRIP)
    result = run_in(path, "--help")
    for option in OPTIONS:
        assert option.flag in result.output
        assert f"{option.dest} (string)" in result.output or f"{option.dest} " in result.output
        assert (
            f"env: {option.env}" in result.output.replace("\n", " ").replace("  ", " ")
            or option.env in result.output
        )


def test_markers_are_registered_and_documented(pytester: pytest.Pytester) -> None:
    path = project(pytester, ROUND_TRIP)
    result = run_in(path, "--markers")
    assert "@pytest.mark.queue_provider(*names)" in result.output
    assert "@pytest.mark.requires_capability(*capabilities)" in result.output


# ----------------------------------------------------------------------------- providers and markers


MARKED = """
import pytest
from queue_runtime import Message

pytestmark = pytest.mark.asyncio

async def test_everywhere(queue_client, queue_name):
    await queue_client.send_message(queue_name, Message(b"x"))

@pytest.mark.queue_provider("memory")
async def test_memory_only(queue_client, queue_name):
    assert queue_client.capabilities.provider == "memory"

@pytest.mark.requires_capability("sessions")
async def test_needs_sessions(queue_client):
    assert queue_client.capabilities.supports("sessions")

async def test_session_queue(session_queue_name):
    assert session_queue_name

async def test_clock(queue_clock):
    before = await queue_clock.now()
    assert (await queue_clock.advance(seconds=90)) - before >= __import__("datetime").timedelta(seconds=90)
"""


def test_a_provider_list_runs_each_test_once_per_provider_with_its_id(pytester: pytest.Pytester) -> None:
    path = project(pytester, MARKED)
    result = run_in(path, "--queue-provider=memory,broken_adapters:no_sessions", "-v")
    assert "test_everywhere[memory] PASSED" in result.output
    assert "test_everywhere[broken_adapters:no_sessions] PASSED" in result.output
    assert "test_memory_only[memory] PASSED" in result.output
    assert "test_memory_only[broken_adapters:no_sessions] SKIPPED" in result.output
    assert "restricted to queue providers memory" in result.output
    assert result.count("passed") == 7 and result.count("skipped") == 3, result.output


def test_capability_skips_name_the_capability_and_the_provider(pytester: pytest.Pytester) -> None:
    path = project(pytester, MARKED)
    result = run_in(path, "--queue-provider=broken_adapters:no_sessions")
    reason = "requires capability 'sessions', which provider 'broken_adapters:no_sessions' does not declare"
    assert result.output.count(reason) == 2, result.output  # the marker and session_queue_name
    assert "PASSED test_project.py::test_clock" in result.output


def test_queue_clock_skips_where_the_provider_has_no_clock(pytester: pytest.Pytester) -> None:
    path = project(pytester, MARKED)
    result = run_in(path, "--queue-provider=broken_adapters:system_clock", "-k", "clock")
    reason = "requires capability 'clock_control', which provider 'broken_adapters:system_clock' does not declare"
    assert reason in result.output
    assert result.count("skipped") == 1 and result.returncode == 0


def test_an_unknown_capability_in_the_marker_is_a_usage_error(pytester: pytest.Pytester) -> None:
    path = project(
        pytester,
        """
        import pytest

        @pytest.mark.requires_capability("teleportation")
        def test_x(queue_client):
            pass
        """,
    )
    result = run_in(path)
    assert "unknown capability 'teleportation'" in result.output
    assert result.returncode != 0


def test_a_factory_that_returns_no_provider_is_reported(pytester: pytest.Pytester) -> None:
    path = project(pytester, ROUND_TRIP)
    result = run_in(path, "--queue-provider=broken_adapters:not_a_provider")
    assert result.returncode == 1
    assert "returned object, not a QueueProvider" in result.output


# ----------------------------------------------------------------------------- fixtures


LIFECYCLE = """
import pytest
from queue_runtime.errors import QueueNotFoundError

seen = {}

@pytest.mark.asyncio
async def test_makes(queue_client, queue_name, queue_client_factory):
    other = await queue_client_factory()
    assert (await other.get_queue(queue_name)).name == queue_name  # same backend
    seen.update(name=queue_name, clients=[queue_client, other])

@pytest.mark.asyncio
async def test_cleaned_up(queue_client):
    with pytest.raises(QueueNotFoundError):
        await queue_client.get_queue(seen["name"])
    assert all(client._closed for client in seen["clients"])
"""


def test_queues_are_deleted_and_clients_closed_after_the_test(pytester: pytest.Pytester) -> None:
    path = project(pytester, LIFECYCLE)
    result = run_in(path, "-p", "no:randomly")
    assert result.returncode == 0 and result.count("passed") == 2, result.output


NAMES = """
import pytest, os, pathlib

@pytest.mark.asyncio
@pytest.mark.parametrize("i", range(6))
async def test_name(queue_client, queue_name, session_queue_name, i):
    await queue_client.get_queue(queue_name)
    out = pathlib.Path(os.environ["NAMES_DIR"])
    (out / f"{queue_name}").write_text(os.environ.get("PYTEST_XDIST_WORKER", "main"))
    (out / f"{session_queue_name}").write_text(os.environ.get("PYTEST_XDIST_WORKER", "main"))
"""


def test_names_are_unique_per_test_and_per_worker_under_xdist(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    from queue_runtime import QueueName

    path = project(pytester, NAMES)
    result = run_in(path, "-n", "2", "--queue-provider=memory,emulator", env={"NAMES_DIR": str(tmp_path)})
    assert result.returncode == 0, result.output[-3000:]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 24  # 6 tests x 2 providers x 2 fixtures, none reused
    workers = set()
    for name in names:
        QueueName(name)
        assert len(name) <= 60
        worker = (tmp_path / name).read_text()
        assert name.startswith(f"q-{worker}-test-name-")
        workers.add(worker)
    assert workers == {"gw0", "gw1"}


AUTO_MODE = """
from queue_runtime import Message

async def test_auto(queue_client, queue_name, queue_clock):
    await queue_client.send_message(queue_name, Message(b"auto"))
    assert (await queue_client.receive_message(queue_name, timeout=1)).body == b"auto"
"""


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_works_in_strict_and_auto_asyncio_modes(pytester: pytest.Pytester, mode: str) -> None:
    source = AUTO_MODE if mode == "auto" else ROUND_TRIP
    path = project(pytester, source)
    result = run_in(
        path, "-o", f"asyncio_mode={mode}", "-W", "error::pytest.PytestUnraisableExceptionWarning"
    )
    assert result.returncode == 0 and result.count("passed") == 1, result.output


FACTORY = """
import json
import pytest

def test_messages(queue_message_factory):
    event = queue_message_factory.webhook_event("order.paid")
    payload = json.loads(event.body)
    assert payload["type"] == "order.paid" and payload["id"].startswith("evt_")
    assert event.attributes["event-type"] == "order.paid"
    assert event.content_type == "application/json" and event.correlation_id == payload["id"]
    assert len(queue_message_factory.message(size=4096).body) == 4096
    assert queue_message_factory.message(size=0).body == b""
    batch = queue_message_factory.batch(3, session_id="s-1")
    assert [m.attributes["seq"] for m in batch] == ["0", "1", "2"]
    assert {m.session_id for m in batch} == {"s-1"}
    assert queue_message_factory.session_id() != queue_message_factory.session_id()
    print("FIRST", queue_message_factory.faker.name())
"""


def test_message_factory_makes_realistic_seeded_messages(pytester: pytest.Pytester) -> None:
    path = project(pytester, FACTORY)
    first = run_in(path, "-s")
    second = run_in(path, "-s")
    assert first.returncode == 0, first.output
    line = [x for x in first.output.splitlines() if "FIRST" in x]
    assert line and line == [x for x in second.output.splitlines() if "FIRST" in x]  # same seed, same data


# ----------------------------------------------------------------------------- emulator modes


EMULATOR = """
import pytest
from datetime import timedelta
from queue_runtime import Message

pytestmark = pytest.mark.asyncio

async def test_emulator(queue_client, queue_name, queue_clock, queue_emulator, queue_faults):
    assert queue_client.capabilities.provider == "emulator"
    assert queue_client.capabilities.clock_control
    assert queue_emulator.url.startswith("http://127.0.0.1:")
    print("MODE", queue_emulator.mode, queue_emulator.url)
    await queue_client.create_queue(queue_name + "-x", lock_duration=timedelta(seconds=30))
    await queue_client.send_message(queue_name, Message(b"e"))
    first = await queue_client.receive_message(queue_name, timeout=2)
    await queue_clock.advance(seconds=61)
    again = await queue_client.receive_message(queue_name, timeout=2)
    assert again is not None and again.delivery_count == first.delivery_count + 1
    stats = await queue_emulator.stats()
    assert stats
    await queue_emulator.clock.advance(timedelta(seconds=1))
    await queue_client.delete_queue(queue_name + "-x")
"""


def _emulator_modules_present() -> None:
    missing = [
        m
        for m in ("queue_emulator.runner", "queue_runtime.providers.emulator")
        if importlib.util.find_spec(m) is None
    ]
    if missing:
        pytest.fail(f"the emulator is not there yet: {', '.join(missing)} missing")


@pytest.mark.parametrize("mode", ["inprocess", "subprocess"])
def test_emulator_mode_starts_the_emulator(pytester: pytest.Pytester, mode: str) -> None:
    _emulator_modules_present()
    path = project(pytester, EMULATOR)
    result = run_in(path, "-s", "--queue-provider=emulator", f"--queue-emulator={mode}")
    assert result.returncode == 0 and result.count("passed") == 1, result.output[-3000:]
    assert f"MODE {mode} http://127.0.0.1:" in result.output


def test_emulator_mode_uses_a_running_emulator_by_url(pytester: pytest.Pytester) -> None:
    _emulator_modules_present()
    from queue_emulator.runner import EmulatorThread
    from queue_emulator.settings import EmulatorSettings

    path = project(pytester, EMULATOR)
    with EmulatorThread(EmulatorSettings(port=0, clock="manual")) as emulator:
        result = run_in(path, "-s", "--queue-provider=emulator", f"--queue-emulator={emulator.url}")
    assert result.returncode == 0 and result.count("passed") == 1, result.output[-3000:]
    assert f"MODE url {emulator.url.rstrip('/')}" in result.output


NO_MOTO = """
import importlib.abc
import sys


class _NoMoto(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "moto" or name.startswith("moto."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None


sys.meta_path.insert(0, _NoMoto())
"""


def test_sqs_without_moto_is_one_line_before_collection(pytester: pytest.Pytester) -> None:
    # moto is installed here, so a conftest hides it the way an environment without it behaves.
    path = project(pytester, ROUND_TRIP)
    (path / "conftest.py").write_text(NO_MOTO)
    result = run_in(path, "--queue-provider=sqs-fifo")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "moto is not installed" in errors[0] and "moto[server]" in errors[0], result.output
    assert "Traceback" not in result.output and "collected" not in result.output


def test_a_setting_that_turns_the_clock_off_says_so_in_the_skip_reason(pytester: pytest.Pytester) -> None:
    _emulator_modules_present()
    path = project(pytester, "def test_c(queue_clock):\n    pass\n")
    # The emulator's own variable must not reach the plugin's emulators...
    result = run_in(path, "--queue-provider=emulator", env={"QUEUE_EMULATOR_CLOCK": "system"})
    assert result.count("passed") == 1, result.output[-3000:]
    # ...while the plugin's own setting does, and the skip says which setting did it.
    result = run_in(path, "--queue-provider=emulator", env={"PYTEST_QUEUE_EMULATOR_CLOCK": "system"})
    assert result.count("skipped") == 1, result.output[-3000:]
    assert (
        "which provider 'emulator' does not declare (the emulator was started with a system clock by "
        "PYTEST_QUEUE_EMULATOR_CLOCK=system)" in result.output
    )


def test_skip_reasons_name_the_provider_as_spelled(pytester: pytest.Pytester) -> None:
    path = project(pytester, "def test_f(queue_faults):\n    pass\n")
    result = run_in(path, "--queue-provider=sqs-fifo")
    assert "requires capability 'fault_injection', which provider 'sqs-fifo' does not declare" in result.output
ADMIN = """
import pytest
from datetime import timedelta

@pytest.mark.asyncio
async def test_admin(queue_servicebus_admin, queue_client):
    queue_servicebus_admin.create_queue("provisioned", lock_duration=timedelta(seconds=40))
    props = await queue_client.get_queue("provisioned")
    assert props.options.lock_duration == timedelta(seconds=40)
    print("LISTED", [q.name for q in queue_servicebus_admin.list_queues()])
    queue_servicebus_admin.delete_queue("provisioned")
"""


@pytest.mark.parametrize("mode", ["inprocess", "subprocess"])
def test_queue_servicebus_admin_manages_the_emulators_entities(pytester: pytest.Pytester, mode: str) -> None:
    _emulator_modules_present()
    path = project(pytester, ADMIN)
    result = run_in(path, "-s", "--queue-provider=emulator", f"--queue-emulator={mode}")
    assert result.returncode == 0 and result.count("passed") == 1, result.output[-3000:]
    assert "LISTED ['provisioned']" in result.output


def test_queue_faults_skips_where_the_provider_cannot_inject(pytester: pytest.Pytester) -> None:
    path = project(pytester, "def test_f(queue_faults):\n    pass\n")
    result = run_in(path)
    assert "requires capability 'fault_injection', which provider 'memory' does not declare" in result.output


# ----------------------------------------------------------------------------- conformance report


def test_conformance_report_lists_capabilities_outcomes_and_mismatches(tmp_path: Path) -> None:
    report = tmp_path / "conformance"
    result = run_pytest(
        "--pyargs",
        "queue_contract_tests",
        "-q",
        "-n",
        "2",
        "--queue-provider=broken_adapters:declares_too_little",
        f"--queue-conformance-report={report}",
    )
    assert result.returncode == 0, result.output[-3000:]  # an undeclared capability never fails the run
    data = json.loads((tmp_path / "conformance.json").read_text())
    caps = data["providers"]["broken_adapters:declares_too_little"]["capabilities"]
    assert caps["peek"] is False and caps["dead_letter"] is True
    outcomes = {t["nodeid"].split("::")[-1]: t["outcome"] for t in data["tests"]}
    assert len(outcomes) >= 40
    assert outcomes["test_peek_does_not_lock_or_count_a_delivery"] == "passed"
    mismatches = {(m["nodeid"].split("::")[-1], m["kind"]) for m in data["mismatches"]}
    assert mismatches == {
        ("test_peek_does_not_lock_or_count_a_delivery", "undeclared but passing"),
        ("test_deferred_message_comes_back_only_by_sequence_number", "undeclared but passing"),
        ("test_peek_without_a_sequence_starts_at_the_first_message_every_time", "undeclared but passing"),
    }
    markdown = (tmp_path / "conformance.md").read_text()
    assert "| peek | False |" in markdown and "undeclared but passing" in markdown


def test_conformance_report_flags_declared_but_failing(tmp_path: Path) -> None:
    report = tmp_path / "broken.json"
    result = run_pytest(
        "--pyargs",
        "queue_contract_tests",
        "-q",
        "-n",
        "2",
        "-k",
        "dead_letter or abandon",
        "--queue-provider=broken_adapters:loses_abandoned",
        f"--queue-conformance-report={report}",
    )
    assert result.returncode == 1
    data = json.loads(report.read_text())
    mismatches = {(m["nodeid"].split("::")[-1], m["kind"]) for m in data["mismatches"]}
    assert (
        "test_max_delivery_count_moves_the_message_to_the_dead_letter_queue",
        "declared but failing",
    ) in mismatches
    failed = {t["nodeid"].split("::")[-1] for t in data["tests"] if t["outcome"] == "failed"}
    assert "test_abandon_redelivers_with_delivery_count_plus_one" in failed
