"""The pytest plugin (entry point ``pytest11: queue_runtime``): options, markers, the provider parametrization
and the default fixtures, which are made by the same factories a ``conftest.py`` can call."""

from __future__ import annotations

import zlib
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from queue_runtime.errors import ConfigurationError

from . import factories
from .config import BUILTIN_PROVIDERS, QueueRuntimeConfig, add_options, explicit_settings, get_config
from .factories._signature import MISSING_EXTRA, missing_modules
from .factories.client import missing_capability_reason
from .messages import QueueMessageFactory
from .report import DECLARED_KEY, PROVIDER_KEY, REQUIRED_KEY, UNDECLARED_KEY, ConformanceRecorder
from .targets import ProviderTarget

_MARKERS = (
    "queue_provider(*names): run this test only on the named queue providers (memory, emulator, sqs, "
    "servicebus, a registered name or package.module:factory); it is skipped on the others.",
    "requires_capability(*capabilities): skip this test where the queue provider does not declare "
    "every named capability (queue_runtime.Capabilities fields: sessions, dead_letter, scheduling, "
    "lock_renewal, ttl, "
    "clock_control, ...). The skip reason names the capability and the provider.",
)
_UNDECLARED = pytest.StashKey[list[str]]()
_REPORTING = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for line in _MARKERS:
        config.addinivalue_line("markers", line)
    settings = get_config(config)  # a wrong value stops the run here, before collection
    missing = missing_modules()
    if missing and explicit_settings(config):
        raise pytest.UsageError(MISSING_EXTRA.format(missing=", ".join(missing)))
    from queue_runtime.providers import load_factory

    for name in settings.providers:
        if name not in BUILTIN_PROVIDERS:
            try:
                load_factory(name)
            except ConfigurationError as exc:
                raise pytest.UsageError(f"--queue-provider: {exc.message}") from exc
    if settings.emulator == "docker" and _uses_emulator(settings):
        from .factories.container import docker_problem

        problem = docker_problem()  # one line now, rather than an error in every test's setup
        if problem is not None:
            raise pytest.UsageError(f"--queue-emulator=docker: {problem}")
    if not missing:  # without the extra no queue test can run; the line above or below says so
        _preflight(settings)
    config.stash[_REPORTING] = settings.conformance_report is not None
    if settings.conformance_report and not hasattr(config, "workerinput"):
        config.pluginmanager.register(
            ConformanceRecorder(Path(settings.conformance_report)), "queue_runtime_conformance_report"
        )


def _uses_emulator(settings: QueueRuntimeConfig) -> bool:
    return "emulator" in settings.providers or (
        "servicebus" in settings.providers and settings.servicebus_connection_string is None
    )
# What each provider needs installed (module, extra), checked before collection so a missing piece is one line
# instead of a traceback per test.
_NEEDS: dict[str, tuple[tuple[str, str], ...]] = {
    "emulator": (("aiohttp", "emulator"), ("orjson", "emulator")),
    "sqs": (("aiobotocore", "sqs"),),
    "sqs-fifo": (("aiobotocore", "sqs"),),
    "servicebus": (("azure.servicebus", "servicebus"), ("aiohttp", "emulator")),
    "azure": (("azure.servicebus", "servicebus"), ("azure.identity", "servicebus")),
}


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package is missing
        return False


def _preflight(settings: QueueRuntimeConfig) -> None:
    """One clear line, before collection, for what the chosen providers need but this environment lacks."""
    for name in settings.providers:
        for module, extra in _NEEDS.get(name, ()):
            if not _importable(module):
                raise pytest.UsageError(
                    f"--queue-provider={name} needs {module}, which is not installed: "
                    f"install queue-runtime with the '{extra}' extra (queue-runtime[{extra}])"
                )
        if name in ("sqs", "sqs-fifo") and settings.sqs_endpoint is None and not _importable("moto"):
            raise pytest.UsageError(
                f"--queue-provider={name} without --queue-sqs-endpoint starts moto's server, but moto is not "
                "installed: pip install \"moto[server]\", or give the endpoint of a running SQS "
                "(--queue-sqs-endpoint=http://127.0.0.1:4566)"
            )
    uses_emulator = any(
        name == "emulator" or (name == "servicebus" and settings.servicebus_connection_string is None)
        for name in settings.providers
    )
    if not uses_emulator:
        return
    url = settings.emulator_url
    if url is None:
        if settings.emulator == "inprocess" and not _importable("queue_emulator.runner"):
            raise pytest.UsageError(
                "--queue-emulator=inprocess needs the emulator: install queue-runtime with the 'emulator' extra "
                "(queue-runtime[emulator]), or give the URL of a running emulator (--queue-emulator=http://...)"
            )
        return
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/v1/info", timeout=5) as answer:
            json.loads(answer.read())
    except (OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise pytest.UsageError(
            f"--queue-emulator={url}: no emulator answers there ({reason}); start one "
            "(python -m queue_emulator) or use --queue-emulator=inprocess"
        ) from exc


_QUEUE_FIXTURES = {
    "pytest_asyncio": {
        "queue_client",
        "queue_client_factory",
        "queue_name",
        "queue_name_factory",
        "session_queue_name",
        "queue_clock",
        "queue_faults",
    },
    "faker": {"queue_message_factory"},
}


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the ``pytest`` extra the plugin stays silent, until a collected test asks for a queue fixture:
    then one line says which extra to install (instead of one error per test)."""
    missing = missing_modules()
    if not missing:
        return
    needed = set().union(*(_QUEUE_FIXTURES[module] for module in missing))
    for item in items:
        if needed & set(getattr(item, "fixturenames", ())):
            raise pytest.UsageError(MISSING_EXTRA.format(missing=", ".join(missing)))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """With several providers, every test that reaches a queue fixture runs once per provider
    (ids ``[memory]``)."""
    if "queue_provider_name" not in metafunc.fixturenames:
        return
    providers = get_config(metafunc.config).providers
    if len(providers) < 2:
        return
    allowed = _allowed_providers(metafunc.definition)
    params = [
        pytest.param(
            name,
            id=name,
            marks=()
            if allowed is None or name in allowed
            else (pytest.mark.skip(reason=f"restricted to queue providers {', '.join(sorted(allowed))}"),),
        )
        for name in providers
    ]
    metafunc.parametrize("queue_provider_name", params, scope="session")


def _allowed_providers(node: pytest.Item) -> set[str] | None:
    marks = list(node.iter_markers("queue_provider"))
    if not marks:
        return None
    allowed: set[str] = set(marks[0].args)
    for mark in marks[1:]:
        allowed &= set(mark.args)
    return allowed


def _required_capabilities(node: pytest.Item) -> list[str]:
    return sorted({str(cap) for mark in node.iter_markers("requires_capability") for cap in mark.args})


@pytest.fixture(scope="session")
def queue_provider_name(request: pytest.FixtureRequest) -> str:
    """The provider this test runs on (parametrized when ``--queue-provider`` lists several)."""
    return get_config(request.config).providers[0]


@pytest.fixture(autouse=True)
def _queue_runtime_requirements(request: pytest.FixtureRequest) -> None:
    """Apply ``queue_provider`` and ``requires_capability`` before any queue is made."""
    node = request.node
    if not isinstance(node, pytest.Item):
        return
    allowed = _allowed_providers(node)
    required = _required_capabilities(node)
    uses_queue = "queue_target" in request.fixturenames
    if allowed is None and not required and not uses_queue:
        return
    name: str = request.getfixturevalue("queue_provider_name")
    if allowed is not None and name not in allowed:
        pytest.skip(f"restricted to queue providers {', '.join(sorted(allowed))}; this run uses '{name}'")
    target: ProviderTarget = request.getfixturevalue("queue_target")
    capabilities = target.capabilities
    for capability in required:
        try:
            capabilities.supports(capability)
        except ValueError as exc:
            raise pytest.UsageError(f"@pytest.mark.requires_capability on {node.nodeid}: {exc}") from exc
    missing = [c for c in required if not capabilities.supports(c)]
    node.user_properties.append((PROVIDER_KEY, target.name))
    node.user_properties.append((DECLARED_KEY, capabilities.as_dict()))
    node.user_properties.append((REQUIRED_KEY, required))
    node.user_properties.append((UNDECLARED_KEY, missing))
    if not missing:
        return
    if request.config.stash.get(_REPORTING, False):
        node.stash[_UNDECLARED] = missing  # run it anyway: a pass is a conformance mismatch
        return
    pytest.skip(missing_capability_reason(missing[0], target.name) + _more(missing))


def _more(missing: list[str]) -> str:
    return f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else ""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    missing = item.stash.get(_UNDECLARED, None)
    if missing and report.failed:
        report.outcome = "skipped"
        report.wasxfail = f"needs undeclared capability {', '.join(missing)}"
    elif missing and report.when == "call" and report.passed:
        report.wasxfail = f"passed although {', '.join(missing)} is not declared"
    return report


@pytest.fixture
def queue_message_factory(request: pytest.FixtureRequest) -> QueueMessageFactory:
    """Realistic messages (webhook events, attributes, session ids, bodies of a given size),
    seeded per test."""
    return QueueMessageFactory(seed=zlib.crc32(request.node.nodeid.encode()))


# The default fixtures, made by the public factories (pytest-postgresql's pattern).
queue_emulator_proc = factories.queue_emulator_proc()
queue_emulator_noproc = factories.queue_emulator_noproc()
queue_emulator = factories.queue_emulator()
queue_target = factories.queue_target()
queue_client_factory = factories.queue_client_factory()
queue_client = factories.queue_client()
queue_name_factory = factories.queue_name_factory()
queue_name = factories.queue_name()
session_queue_name = factories.queue_name(requires_session=True)
queue_clock = factories.queue_clock()
queue_faults = factories.queue_faults()
queue_journal = factories.queue_journal()
queue_servicebus_admin = factories.queue_servicebus_admin()
