"""The emulator's container image against the emulator as a subprocess: image size, start to ready, memory.

"Ready" is the first ``GET /health`` that answers 200 from this machine, polled every 20 ms. Three ways, each
started ``--runs`` times in turn, in the same run:

- ``queue-emulator`` as a child process on free ports (the baseline: what ``--queue-emulator=subprocess`` does);
- ``docker run`` of the image with published ports, then the same polling (what a CI service container costs);
- ``QueueEmulatorContainer().start()`` (testcontainers: create, start, readiness line, /health through the
  mapped port), which is what ``--queue-emulator=docker`` does.

Memory: resident set of the child process, and the container's usage from ``docker stats``, both idle after start.
Needs a Docker engine and the image (``python emulator/container/build.py``). Run:
``python benchmarks/container_startup.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")


def wait_healthy(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.02)
    raise TimeoutError(f"{url} did not answer /health within {timeout:.0f}s")


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout.strip()


def mib(value: float) -> str:
    return f"{value / 2**20:.1f}"


def subprocess_once() -> tuple[float, float]:
    began = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "queue_emulator", "--port", "0", "--amqp-port", "0",
            "--admin-port", "0", "--admin-tls-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # "queue-emulator listening on http://127.0.0.1:PORT"
        wait_healthy(line.rsplit(" ", 1)[1].strip())
        ready = time.monotonic() - began
        with open(f"/proc/{child.pid}/status") as status:
            rss = next(int(row.split()[1]) * 1024 for row in status if row.startswith("VmRSS:"))
        return ready, rss
    finally:
        child.terminate()
        child.wait(10)


def docker_run_once(image: str) -> tuple[float, float]:
    began = time.monotonic()
    cid = docker("run", "--detach", "--label", "io.queue-runtime.benchmark=startup", "--publish", "127.0.0.1::8080",
                 "--publish", "127.0.0.1::5672", image)
    try:
        port = docker("port", cid, "8080/tcp").splitlines()[0].rsplit(":", 1)[1]
        wait_healthy(f"http://127.0.0.1:{port}")
        ready = time.monotonic() - began
        time.sleep(1.0)  # let the start settle before reading memory
        usage = json.loads(docker("stats", "--no-stream", "--format", "{{json .}}", cid))["MemUsage"].split("/")[0]
        return ready, parse_size(usage)
    finally:
        docker("rm", "--force", cid)


def parse_size(text: str) -> float:
    text = text.strip()
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10), ("kB", 1000), ("MB", 10**6), ("B", 1)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def testcontainers_once(image: str) -> tuple[float, float]:
    from queue_emulator.containers import QueueEmulatorContainer

    began = time.monotonic()
    with QueueEmulatorContainer(image).with_labels(**{"io.queue-runtime.benchmark": "startup"}):
        return time.monotonic() - began, float("nan")


def measure(runs: int, once: Callable[[], tuple[float, float]]) -> tuple[list[float], float]:
    once()  # warm: page cache, pip's compiled files, the engine's image layers
    times, memory = [], []
    for _ in range(runs):
        ready, used = once()
        times.append(ready)
        memory.append(used)
    return times, statistics.median(memory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--image", default=None, help="default: queue-emulator:<version>")
    args = parser.parse_args()
    from queue_emulator.containers import DEFAULT_IMAGE

    image = args.image or DEFAULT_IMAGE
    size = int(docker("image", "inspect", "--format", "{{.Size}}", image))
    base_size = 0
    try:
        base_size = int(docker("image", "inspect", "--format", "{{.Size}}", "queue-emulator-base:bookworm"))
    except subprocess.CalledProcessError:
        pass
    print(f"image {image}: {mib(size)} MiB" + (f" (base queue-emulator-base:bookworm {mib(base_size)} MiB, "
          f"application layer {mib(size - base_size)} MiB)" if base_size else ""))
    print(f"{args.runs} starts each, after one warm-up start\n")
    rows = [
        ("queue-emulator subprocess (baseline)", measure(args.runs, subprocess_once)),
        ("docker run + /health polling", measure(args.runs, lambda: docker_run_once(image))),
        ("QueueEmulatorContainer().start()", measure(args.runs, lambda: testcontainers_once(image))),
    ]
    baseline = statistics.median(rows[0][1][0])
    print("| how | start to ready, median s | min s | max s | vs subprocess | memory after start, MiB |")
    print("|---|---|---|---|---|---|")
    for name, (times, memory) in rows:
        median = statistics.median(times)
        shown = "-" if memory != memory else mib(memory)  # NaN: not measured that way
        print(f"| {name} | {median:.2f} | {min(times):.2f} | {max(times):.2f} | {median / baseline:.2f}x | {shown} |")


if __name__ == "__main__":
    main()
