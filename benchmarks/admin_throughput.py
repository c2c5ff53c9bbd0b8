"""Administration endpoint: what one provisioning call costs, against the REST API as the baseline.

    .venv/bin/python benchmarks/admin_throughput.py [--count 300]

In one run, against one in-thread emulator: create, get and delete ``--count`` queues with the real sync
``ServiceBusAdministrationClient`` over HTTPS (the generated CA), and list them all (100 per page); then the same
three operations over the REST API with ``requests`` (the SDK's own HTTP library, plain HTTP and JSON instead of
TLS and Atom XML) as the baseline, and the same Atom requests sent raw (no SDK) over HTTPS and plain HTTP, which
separates the endpoint's cost from the SDK's. Prints operations per second and the mean latency.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import requests
from azure.servicebus.management import ServiceBusAdministrationClient
from queue_emulator.runner import EmulatorThread
from queue_emulator.settings import EmulatorSettings

_ENTRY = (
    '<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml"><QueueDescription '
    'xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"><LockDuration>PT45S</LockDuration>'
    "</QueueDescription></content></entry>"
)


def _measure(label: str, count: int, action: Callable[[int], object]) -> tuple[str, float, float]:
    started = time.perf_counter()
    for i in range(count):
        action(i)
    elapsed = time.perf_counter() - started
    return label, count / elapsed, elapsed / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=300)
    count = parser.parse_args().count
    rows: list[tuple[str, float, float]] = []
    with EmulatorThread(EmulatorSettings()) as emulator:
        assert emulator.servicebus_admin_connection_string and emulator.ca_path
        admin = ServiceBusAdministrationClient.from_connection_string(
            emulator.servicebus_admin_connection_string, connection_verify=str(emulator.ca_path))
        with admin:
            rows.append(_measure("admin HTTPS create_queue", count, lambda i: admin.create_queue(f"https-{i}")))
            rows.append(_measure("admin HTTPS get_queue", count, lambda i: admin.get_queue(f"https-{i}")))
            started = time.perf_counter()
            listed = sum(1 for _ in admin.list_queues())
            rows.append((f"admin HTTPS list_queues ({listed} queues)", 1 / (time.perf_counter() - started),
                         (time.perf_counter() - started) * 1000))
            rows.append(_measure("admin HTTPS delete_queue", count, lambda i: admin.delete_queue(f"https-{i}")))
        session = requests.Session()
        ca = str(emulator.ca_path)  # per request: requests lets REQUESTS_CA_BUNDLE override a session's verify
        entry = _ENTRY.encode()
        for scheme, port in (("HTTPS", emulator.admin_tls_port), ("HTTP", emulator.admin_port)):
            url = f"{scheme.lower()}://127.0.0.1:{port}"
            rows.append(_measure(f"raw Atom PUT over {scheme} (no SDK)", count, lambda i, u=url: session.put(
                f"{u}/raw-{i}?api-version=2021-05", data=entry, verify=ca).raise_for_status()))
            rows.append(_measure(f"raw Atom GET over {scheme} (no SDK)", count, lambda i, u=url: session.get(
                f"{u}/raw-{i}?api-version=2021-05", verify=ca).raise_for_status()))
            rows.append(_measure(f"raw Atom DELETE over {scheme} (no SDK)", count, lambda i, u=url: session.delete(
                f"{u}/raw-{i}?api-version=2021-05", verify=ca).raise_for_status()))
        base = f"{emulator.url}/v1/queues"
        rows.append(_measure("REST PUT /v1/queues/{q} (baseline)", count,
                             lambda i: session.put(f"{base}/rest-{i}", json={}).raise_for_status()))
        rows.append(_measure("REST GET /v1/queues/{q} (baseline)", count,
                             lambda i: session.get(f"{base}/rest-{i}").raise_for_status()))
        rows.append(_measure("REST DELETE /v1/queues/{q} (baseline)", count,
                             lambda i: session.delete(f"{base}/rest-{i}").raise_for_status()))
    width = max(len(r[0]) for r in rows)
    print(f"{'operation':<{width}}  {'ops/s':>9}  {'mean ms':>8}")
    for label, rate, mean in rows:
        print(f"{label:<{width}}  {rate:>9.0f}  {mean:>8.2f}")


if __name__ == "__main__":
    main()
