"""Build the emulator's container image locally, with no registry: ``python emulator/container/build.py``.

1. The base image (``queue-emulator-base:bookworm``): a Debian bookworm root filesystem with python3 and
   python3-venv, made by ``mmdebstrap`` and loaded with ``docker import``. Kept between builds: it is rebuilt only
   when it is missing, when its recipe here changed, or with ``--rebuild-base``. ``--base-image NAME`` (or the
   environment variable ``QUEUE_EMULATOR_BASE_IMAGE``) uses any other image with python3 3.11+ and venv instead
   (``python:3.11-slim-bookworm`` where a registry is reachable).
2. The wheels, on this host: the project's own (``pip wheel``) and its ``[emulator]`` dependencies for CPython 3.11
   on manylinux (``pip download``), so the image installs them with ``--no-index`` and never needs the network.
3. The emulator image (``queue-emulator:<version>`` and ``queue-emulator:latest``) from ``Dockerfile``. It carries a
   hash of the sources it was built from; when the sources are unchanged the build is skipped (``--force`` builds).

Needs Python with pip, a reachable Docker engine and, for the base image, ``mmdebstrap`` (apt) run as root.
Builds on one machine take turns (a lock file in the temporary directory): one started while another runs waits
for it and then usually finds the image up to date, so CI can start a build early and the tests' own call waits.
Exit status: 0 built or up to date, 1 a step failed, 3 no Docker engine reachable.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
IMAGE_REPOSITORY = "queue-emulator"
BASE_IMAGE = "queue-emulator-base:bookworm"
BASE_IMAGE_ENV = "QUEUE_EMULATOR_BASE_IMAGE"  # e.g. python:3.11-slim-bookworm where a registry is reachable
SOURCE_LABEL = "io.queue-runtime.source-hash"
BASE_LABEL = "io.queue-runtime.base-recipe"
IMAGE_LABEL = "io.queue-runtime.image"
# What the emulator runs: a change here means a new image. Paths relative to the repository root.
SOURCES = ("queue_runtime", "emulator/queue_emulator", "pyproject.toml", "README.md", "emulator/container/Dockerfile")
# The base: python3 (3.11 in bookworm) and venv; no documentation, manuals or translations; merged /usr set up by
# mmdebstrap's hook instead of the usrmerge package (which would pull in all of perl).
BASE_RECIPE = (
    "mmdebstrap",
    "--variant=essential",
    "--include=python3,python3-venv",
    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
    "bookworm",
)
IMAGE_PYTHON = "3.11"


class BuildError(Exception):
    """A step failed; the message says which and how to fix it."""


def version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def default_image() -> str:
    return f"{IMAGE_REPOSITORY}:{version()}"


def source_hash(root: Path = ROOT) -> str:
    """sha256 over the relative path and content of every source file the image is built from."""
    digest = hashlib.sha256()
    for entry in SOURCES:
        path = root / entry
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            if not file.is_file() or "__pycache__" in file.parts or file.suffix in (".pyc", ".pyo"):
                continue
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
            digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()


def recipe_hash() -> str:
    return hashlib.sha256("\0".join(BASE_RECIPE).encode()).hexdigest()[:16]


def _docker(*args: str, capture: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=capture, text=True, check=False)


def engine_problem() -> str | None:
    """None when a Docker engine answers, else one line saying why not."""
    if shutil.which("docker") is None:
        return "no docker command on PATH"
    result = _docker("version", "--format", "{{.Server.Version}}")
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        return lines[-1] if lines else f"docker version exited with {result.returncode}"
    return None


def image_label(image: str, label: str) -> str | None:
    """The label's value on a local image, "" when the image has no such label, None when there is no image."""
    result = _docker("image", "inspect", "--format", f'{{{{index .Config.Labels "{label}"}}}}', image)
    if result.returncode != 0:
        return None
    value = result.stdout.strip()
    return "" if value == "<no value>" else value


def _run(step: str, command: list[str], *, quiet: bool, cwd: Path | None = None) -> None:
    result = subprocess.run(command, cwd=cwd, text=True, check=False, capture_output=quiet)
    if result.returncode != 0:
        tail = ((result.stdout or "") + (result.stderr or "")).strip().splitlines()[-15:] if quiet else []
        raise BuildError(f"{step} failed (exit {result.returncode}): {' '.join(command)}\n" + "\n".join(tail))


def build_base(image: str, *, quiet: bool) -> None:
    if shutil.which("mmdebstrap") is None:
        raise BuildError(
            f"the base image {image} is missing and mmdebstrap is not installed: apt-get install mmdebstrap "
            "(as root), or pass --base-image with an image that has python3 3.11+ and venv"
        )
    with tempfile.TemporaryDirectory(prefix="queue-emulator-base-") as work:
        tarball = Path(work) / "rootfs.tar"
        _run("mmdebstrap", [*BASE_RECIPE, str(tarball)], quiet=quiet)
        _run(
            "docker import",
            ["docker", "import", "--change", f"LABEL {BASE_LABEL}={recipe_hash()}", str(tarball), image],
            quiet=True,
        )


def manylinux_platforms(machine: str) -> list[str]:
    """Every manylinux tag a bookworm image (glibc 2.36) runs, newest first; pip does not expand them itself."""
    return [f"manylinux_2_{minor}_{machine}" for minor in range(36, 16, -1)] + [f"manylinux2014_{machine}"]


def build_wheels(dest: Path, *, quiet: bool) -> None:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _run("pip wheel (the project)", [*pip, "wheel", "--no-deps", "--wheel-dir", str(dest), str(ROOT)], quiet=quiet)
    wheels = sorted(dest.glob("queue_runtime-*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one queue_runtime wheel in {dest}, found {[w.name for w in wheels]}")
    machine = platform.machine().lower().replace("amd64", "x86_64").replace("arm64", "aarch64")
    platforms = [arg for tag in manylinux_platforms(machine) for arg in ("--platform", tag)]
    _run(
        "pip download (the [emulator] dependencies)",
        [
            *pip, "download", "--dest", str(dest), "--only-binary=:all:", "--implementation", "cp",
            "--python-version", IMAGE_PYTHON, *platforms, f"{wheels[0]}[emulator]",
        ],
        quiet=quiet,
    )


def build_image(image: str, base_image: str, digest: str, *, quiet: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="queue-emulator-image-") as work:
        context = Path(work)
        shutil.copy(HERE / "Dockerfile", context / "Dockerfile")
        build_wheels(context / "wheels", quiet=quiet)
        latest = f"{IMAGE_REPOSITORY}:latest"
        tags = [image] if image == latest else [image, latest] if image.startswith(IMAGE_REPOSITORY + ":") else [image]
        command = ["docker", "build", "--build-arg", f"BASE_IMAGE={base_image}"]
        command += ["--label", f"{SOURCE_LABEL}={digest}", "--label", f"{IMAGE_LABEL}=emulator"]
        command += ["--label", f"org.opencontainers.image.version={version()}"]
        command += ["--label", "org.opencontainers.image.title=queue-emulator"]
        for tag in tags:
            command += ["--tag", tag]
        _run("docker build", [*command, str(context)], quiet=quiet)
    # The replaced image and the build stage stay behind untagged; only those of this project are removed.
    for label in (f"{IMAGE_LABEL}=emulator", "io.queue-runtime.stage=build"):
        _docker("image", "prune", "--force", "--filter", f"label={label}")


@contextlib.contextmanager
def one_build_at_a_time() -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, builds may overlap
        yield
        return
    with (Path(tempfile.gettempdir()) / "queue-emulator-build.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--image", default=None, help=f"tag to build (default {IMAGE_REPOSITORY}:<version>)")
    parser.add_argument(
        "--base-image", default=os.environ.get(BASE_IMAGE_ENV) or None,
        help=f"base image to build on (default: env {BASE_IMAGE_ENV}, else {BASE_IMAGE}, made here)",
    )
    parser.add_argument("--rebuild-base", action="store_true", help="make the base image again even if it exists")
    parser.add_argument("--force", action="store_true", help="build even when the image matches the sources")
    parser.add_argument("--quiet", action="store_true", help="print only the summary (and a failing step's output)")
    args = parser.parse_args(argv)
    image = args.image or default_image()
    problem = engine_problem()
    if problem is not None:
        print(f"build.py: no Docker engine reachable ({problem}); nothing built", file=sys.stderr)
        return 3
    started = time.monotonic()
    with one_build_at_a_time():
        return _build(args, image, started)


def _build(args: argparse.Namespace, image: str, started: float) -> int:
    try:
        digest = source_hash()
        if not args.force and not args.rebuild_base and image_label(image, SOURCE_LABEL) == digest:
            print(f"build.py: {image} is up to date (sources {digest[:12]})", flush=True)
            return 0
        base = args.base_image or BASE_IMAGE
        if args.base_image is None and (args.rebuild_base or image_label(base, BASE_LABEL) != recipe_hash()):
            print(f"build.py: making the base image {base} with mmdebstrap", flush=True)
            step = time.monotonic()
            build_base(base, quiet=args.quiet)
            print(f"build.py: base image {base} made in {time.monotonic() - step:.1f}s", flush=True)
        else:
            print(f"build.py: base image {base} kept", flush=True)
        step = time.monotonic()
        build_image(image, base, digest, quiet=args.quiet)
        print(f"build.py: {image} built in {time.monotonic() - step:.1f}s (sources {digest[:12]}); "
              f"total {time.monotonic() - started:.1f}s", flush=True)
    except BuildError as exc:
        print(f"build.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
