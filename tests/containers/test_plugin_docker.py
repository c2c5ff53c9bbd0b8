"""The plugin's ``--queue-emulator=docker`` mode, the cleanup of containers when tests fail, and what happens
without a Docker engine (inner pytest runs in child processes)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REQUIRE_ENV, ROOT, STATUS_ENV, container_exists

# The first test may wait for the image build (about a minute on a fresh machine).
pytestmark = pytest.mark.timeout(600)

NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


@pytest.fixture
def inner_env(monkeypatch: pytest.MonkeyPatch, pytester: pytest.Pytester) -> pytest.MonkeyPatch:
    for name in ("QUEUE_PROVIDER", "QUEUE_EMULATOR", "QUEUE_EMULATOR_IMAGE", "PYTEST_ADDOPTS", STATUS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(pytester.path), os.environ.get("PYTHONPATH", "")]))
    return monkeypatch


def test_containers_are_removed_when_tests_fail(
    emulator_image: str, pytester: pytest.Pytester, inner_env: pytest.MonkeyPatch
) -> None:
    ids = pytester.path / "container-ids.txt"
    inner_env.setenv("IDS_FILE", str(ids))
    inner_env.setenv("IMAGE", emulator_image)
    pytester.makepyfile(
        test_failing="""
        import os, pathlib
        from queue_emulator.containers import QueueEmulatorContainer

        def record(container_id):
            with pathlib.Path(os.environ["IDS_FILE"]).open("a") as file:
                file.write(container_id + "\\n")

        def test_fails_inside_the_context_manager():
            with QueueEmulatorContainer(os.environ["IMAGE"]) as container:
                record(container.get_container_id())
                assert False, "fails while its container runs"

        def test_fails_in_the_plugins_docker_mode(queue_emulator, queue_client):
            record(queue_emulator.container_id)
            assert queue_emulator.mode == "docker"
            assert False, "fails while the session's container runs"
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--queue-provider=emulator", "--queue-emulator=docker",
        f"--queue-emulator-image={emulator_image}",
    )
    result.assert_outcomes(failed=2)
    started = ids.read_text().split()
    assert len(started) == 2 and all(started), started
    assert [cid for cid in started if container_exists(cid)] == []


def test_a_contract_test_runs_against_the_container(
    emulator_image: str, pytester: pytest.Pytester, inner_env: pytest.MonkeyPatch
) -> None:
    where = pytester.path / "emulator.txt"
    inner_env.setenv("WHERE_FILE", str(where))
    pytester.makepyfile(
        record_emulator="""
        import os, pathlib, pytest

        @pytest.fixture(scope="session", autouse=True)
        def _record(queue_emulator):
            pathlib.Path(os.environ["WHERE_FILE"]).write_text(f"{queue_emulator.mode} {queue_emulator.container_id}")
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "record_emulator", "--pyargs", "queue_contract_tests.test_messages",
        "-k", "test_attributes_correlation_id", "--queue-provider=emulator,servicebus", "--queue-emulator=docker",
        "-rA",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) == 2 and "failed" not in outcomes and "errors" not in outcomes, outcomes
    assert any("[servicebus" in line and "PASSED" in line for line in result.outlines)
    mode, container_id = where.read_text().split()
    assert mode == "docker" and not container_exists(container_id)


def test_docker_mode_without_an_engine_stops_with_one_line(
    pytester: pytest.Pytester, inner_env: pytest.MonkeyPatch
) -> None:
    for name, value in NO_ENGINE.items():
        inner_env.setenv(name, value)
    pytester.makepyfile(test_any="def test_nothing(queue_client): pass")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--queue-provider=emulator",
                                           "--queue-emulator=docker")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in result.errlines if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("ERROR: --queue-emulator=docker: no Docker engine reachable (")


@pytest.mark.parametrize("how", ["skips", "ci-status-ready", "ci-status-unavailable"])
def test_the_container_tests_skip_with_the_reason_without_an_engine(how: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in (REQUIRE_ENV, STATUS_ENV, "PYTEST_ADDOPTS")}
    env.update(NO_ENGINE)
    if how.startswith("ci-status"):
        status = tmp_path / "docker.status"
        status.write_text("ready\n" if how == "ci-status-ready" else "unavailable: apt-get install failed: E: nope\n")
        env[STATUS_ENV] = str(status)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-q",
         "tests/containers/test_container.py::test_published_ports_are_on_the_host"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    out = done.stdout + done.stderr
    if how == "ci-status-ready":
        assert done.returncode == 1, out
        assert "a Docker engine is required here but unusable: no Docker engine reachable (" in out, out
    elif how == "ci-status-unavailable":
        assert done.returncode == 0 and "1 skipped" in out, out
        assert "container tests need a Docker engine: apt-get install failed: E: nope" in out, out
    else:
        assert done.returncode == 0 and "1 skipped" in out, out
        assert "container tests need a Docker engine: no Docker engine reachable (" in out, out


def test_a_url_emulator_in_a_container_is_reached_over_amqp(
    emulator_image: str, test_label: dict[str, str], pytester: pytest.Pytester, inner_env: pytest.MonkeyPatch
) -> None:
    """The CI service-container case: the emulator binds 0.0.0.0 and publishes its AMQP port one to one; the
    plugin, given only the HTTP URL, must reach the AMQP front at the URL's host."""
    from pytest_queue_runtime.targets import EmulatorHandle
    from queue_emulator.containers import QueueEmulatorContainer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        amqp_port = probe.getsockname()[1]
    service = (
        QueueEmulatorContainer(emulator_image)
        .with_labels(**test_label)
        .with_env("QUEUE_EMULATOR_AMQP_PORT", str(amqp_port))
        .with_bind_ports(amqp_port, amqp_port)
    )
    with service:
        # Linux would connect to 0.0.0.0 as if it were loopback, so check the address itself as well.
        handle = EmulatorHandle(url=service.get_http_url(), mode="url")
        host = service.get_container_host_ip()
        assert handle.servicebus_connection_string.startswith(f"Endpoint=sb://{host}:{amqp_port};"), handle.info()
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--pyargs", "queue_contract_tests.test_messages",
            "-k", "test_attributes_correlation_id",
            "--queue-provider=servicebus", f"--queue-emulator={service.get_http_url()}",
        )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) == 1 and "failed" not in outcomes and "errors" not in outcomes, outcomes
