"""docs/containers.md: its Python examples and its `docker run` block run as written (against the image built
from this checkout); its CI files name the real image, ports and readiness wait."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import uuid

import pytest
import yaml
from queue_emulator.containers import AMQP_PORT, DEFAULT_IMAGE, HTTP_PORT

from .conftest import LABEL, ROOT, containers_with

pytestmark = pytest.mark.timeout(600)

DOC = (ROOT / "docs" / "containers.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, re.DOTALL)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_example_runs(emulator_image: str, index: int) -> None:
    code = blocks("python")[index]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_docker_run_block_runs(emulator_image: str) -> None:
    """The block as a user runs it, on free host ports and with a unique name (8080 may be taken here)."""
    (block,) = [b for b in blocks("bash") if b.startswith("docker run")]
    assert shutil.which("curl"), "the documented readiness wait uses curl"
    http, amqp, name = free_port(), free_port(), f"queue-emulator-docs-{uuid.uuid4().hex[:8]}"
    script = (block.replace(f"127.0.0.1:{HTTP_PORT}", f"127.0.0.1:{http}")
              .replace(f"127.0.0.1:{AMQP_PORT}:", f"127.0.0.1:{amqp}:")
              .replace("--name queue-emulator", f"--name {name} --label {LABEL}={name}")
              .replace("docker logs queue-emulator", f"docker logs {name}")
              .replace("docker rm --force queue-emulator", f"docker rm --force {name}"))
    try:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert '{"status":"ok"' in done.stdout
        assert "queue-emulator listening on http://0.0.0.0:8080" in done.stdout
    finally:
        left = containers_with(f"{LABEL}={name}")
        if left:
            subprocess.run(["docker", "rm", "--force", *left], capture_output=True, timeout=60, check=False)
    assert not left, "the documented block leaves no container behind"


def test_the_ci_files_name_the_real_image_ports_and_wait() -> None:
    image_tag = DEFAULT_IMAGE.split(":", 1)[1]
    files = [yaml.safe_load(block) for block in blocks("yaml")]
    github, github_build, gitlab = files
    service = github["jobs"]["test"]["services"]["queue-emulator"]
    assert service["image"].endswith(f"/queue-emulator:{image_tag}")
    assert service["ports"] == [f"{HTTP_PORT}:{HTTP_PORT}", f"{AMQP_PORT}:{AMQP_PORT}"]
    runs = [step.get("run", "") for step in github["jobs"]["test"]["steps"]]
    assert any("/health" in run and "until curl" in run for run in runs)
    assert any(f"--queue-emulator=http://127.0.0.1:{HTTP_PORT}" in run for run in runs)
    assert any(DEFAULT_IMAGE in step["run"] for step in github_build)
    (gitlab_service,) = gitlab["test"]["services"]
    assert gitlab_service["name"].endswith(f"/queue-emulator:{image_tag}")
    assert gitlab["test"]["variables"]["QUEUE_EMULATOR"] == f"http://{gitlab_service['alias']}:{HTTP_PORT}"
    assert any("/health" in line for line in gitlab["test"]["script"])
