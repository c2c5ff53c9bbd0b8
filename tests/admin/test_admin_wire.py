"""The administration endpoint on the wire: bad XML is a 400 with Service Bus' ``<Error>`` body (never a 500),
the plain-HTTP port serves the same protocol, the CA file is what the HTTPS port's certificate chains to, and the
SAS token is checked exactly as on the AMQP front when the emulator has a key."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator

import defusedxml.ElementTree as SafeET
import pytest
from admin_support import rest
from azure.core.exceptions import ClientAuthenticationError
from azure.servicebus.management import ServiceBusAdministrationClient
from queue_emulator.runner import EmulatorThread
from queue_emulator.settings import EmulatorSettings

ATOM = "http://www.w3.org/2005/Atom"
SB = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"


def _entry(description: str) -> bytes:
    return (f'<entry xmlns="{ATOM}"><content type="application/xml">{description}</content></entry>').encode()


def _call(url: str, method: str = "GET", body: bytes | None = None, *, ca: str | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    context = ssl.create_default_context(cafile=ca) if ca else None
    request = urllib.request.Request(url, method=method, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _https(emulator: EmulatorThread, path: str) -> str:
    return f"https://127.0.0.1:{emulator.admin_tls_port}{path}?api-version=2024-05"


def _error(body: bytes) -> tuple[str, str]:
    root = SafeET.fromstring(body)
    assert root.tag == "Error"
    return root.findtext("Code") or "", root.findtext("Detail") or ""


@pytest.mark.parametrize(("body", "fragment"), [
    (b"<entry", "not well-formed"),
    (b"", "no body"),
    (b"<feed xmlns='http://www.w3.org/2005/Atom'/>", "expected an Atom <entry>"),
    (_entry(f'<QueueDescription xmlns="{SB}"><Colour>red</Colour></QueueDescription>'), "no field <Colour>"),
    (_entry(f'<QueueDescription xmlns="{SB}"><LockDuration>soon</LockDuration></QueueDescription>'),
     "not an ISO 8601 duration"),
    (_entry(f'<QueueDescription xmlns="{SB}"><MaxDeliveryCount>many</MaxDeliveryCount></QueueDescription>'),
     "not an integer"),
    (_entry(f'<QueueDescription xmlns="{SB}"><RequiresSession>yes</RequiresSession></QueueDescription>'),
     "not a boolean"),
    (_entry(f'<QueueDescription xmlns="{SB}"><MaxDeliveryCount>0</MaxDeliveryCount></QueueDescription>'),
     "max_delivery_count"),
    (_entry(f'<QueueDescription xmlns="{SB}"><Status>Sleeping</Status></QueueDescription>'), "Status"),
    (_entry(f'<QueueDescription xmlns="{SB}"><ForwardTo>sb://x/nowhere-at-all</ForwardTo></QueueDescription>'),
     "nowhere-at-all"),
    (_entry('<QueueDescription xmlns="urn:other"/>'), "namespace"),
    (_entry(f'<RuleDescription xmlns="{SB}"/>'), "expected <QueueDescription> or <TopicDescription>"),
    (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
     b'<entry xmlns="http://www.w3.org/2005/Atom">&b;</entry>', "refused"),
])
def test_bad_requests_are_400_with_an_error_body(emulator: EmulatorThread, name: str, body: bytes,
                                                 fragment: str) -> None:
    assert emulator.ca_path is not None
    status, answer = _call(_https(emulator, f"/{name}"), "PUT", body, ca=str(emulator.ca_path),
                           headers={"Content-Type": "application/atom+xml"})
    assert status == 400
    code, detail = _error(answer)
    assert code == "400"
    assert fragment in detail
    assert rest(emulator, "GET", "/v1/queues")["queues"] is not None
    assert name not in [q["name"] for q in rest(emulator, "GET", "/v1/queues")["queues"]]


def test_bad_rule_filter_type_and_bad_parameter(emulator: EmulatorThread, name: str) -> None:
    rest(emulator, "PUT", f"/v1/topics/{name}", {})
    rest(emulator, "PUT", f"/v1/topics/{name}/subscriptions/s", {})
    ca = str(emulator.ca_path)
    unknown = _entry(f'<RuleDescription xmlns="{SB}" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
                     '<Filter i:type="RegexFilter"/></RuleDescription>')
    status, answer = _call(_https(emulator, f"/{name}/subscriptions/s/rules/r"), "PUT", unknown, ca=ca)
    assert status == 400 and "unknown filter type 'RegexFilter'" in _error(answer)[1]
    bad_value = _entry(
        f'<RuleDescription xmlns="{SB}" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
        '<Filter i:type="SqlFilter"><SqlExpression>a = @p</SqlExpression><Parameters><KeyValueOfstringanyType>'
        '<Key>@p</Key><Value i:type="d6p1:int" xmlns:d6p1="http://www.w3.org/2001/XMLSchema">x</Value>'
        '</KeyValueOfstringanyType></Parameters></Filter></RuleDescription>')
    status, answer = _call(_https(emulator, f"/{name}/subscriptions/s/rules/r"), "PUT", bad_value, ca=ca)
    assert status == 400 and "not an integer" in _error(answer)[1]


def test_default_rule_description_on_subscription_create(emulator: EmulatorThread, name: str) -> None:
    """What newer SDKs send for ``create_subscription(default_rule_options=...)``."""
    rest(emulator, "PUT", f"/v1/topics/{name}", {})
    body = _entry(
        f'<SubscriptionDescription xmlns="{SB}" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
        '<LockDuration>PT1M</LockDuration><DefaultRuleDescription><Filter i:type="SqlFilter">'
        "<SqlExpression>color = 'red'</SqlExpression></Filter><Action i:type=\"EmptyRuleAction\"/>"
        "<Name>only-red</Name></DefaultRuleDescription></SubscriptionDescription>")
    status, _ = _call(_https(emulator, f"/{name}/subscriptions/red"), "PUT", body, ca=str(emulator.ca_path))
    assert status == 201
    rules = rest(emulator, "GET", f"/v1/topics/{name}/subscriptions/red/rules")
    assert [r["name"] for r in rules["rules"]] == ["only-red"]


def test_plain_http_port_serves_the_same_protocol(emulator: EmulatorThread, name: str) -> None:
    """The .NET client with ``UseDevelopmentEmulator=true`` speaks plain HTTP."""
    body = _entry(f'<QueueDescription xmlns="{SB}"><MaxDeliveryCount>6</MaxDeliveryCount></QueueDescription>')
    base = f"http://127.0.0.1:{emulator.admin_port}"
    status, answer = _call(f"{base}/{name}?api-version=2021-05", "PUT", body)
    assert status == 201
    root = SafeET.fromstring(answer)
    assert root.findtext(f"{{{ATOM}}}title") == name
    assert root.findtext(f".//{{{SB}}}MaxDeliveryCount") == "6"
    status, answer = _call(f"{base}/$Resources/queues?$skip=0&$top=100&api-version=2021-05")
    assert status == 200
    titles = [e.findtext(f"{{{ATOM}}}title") for e in SafeET.fromstring(answer).findall(f"{{{ATOM}}}entry")]
    assert name in titles
    status, answer = _call(f"{base}/{name}", "DELETE")
    assert status == 200
    status, answer = _call(f"{base}/{name}")
    assert status == 404 and _error(answer)[0] == "404"


def test_https_certificate_chains_to_the_written_ca_only(emulator: EmulatorThread) -> None:
    assert emulator.ca_path is not None and emulator.ca_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE")
    with pytest.raises(urllib.error.URLError) as caught:
        urllib.request.urlopen(_https(emulator, "/$namespaceinfo"), timeout=10)  # system trust store only
    assert isinstance(caught.value.reason, ssl.SSLCertVerificationError)
    status, _ = _call(_https(emulator, "/$namespaceinfo"), ca=str(emulator.ca_path))
    assert status == 200


def test_info_reports_the_admin_endpoint(emulator: EmulatorThread) -> None:
    info = rest(emulator, "GET", "/v1/info")
    assert info["admin_port"] == emulator.admin_port
    assert info["admin_tls_port"] == emulator.admin_tls_port
    assert info["ca_path"] == str(emulator.ca_path)
    assert f"Endpoint=sb://127.0.0.1:{emulator.admin_tls_port};" in info["servicebus_admin_connection_string"]


def test_unknown_resource_and_method(emulator: EmulatorThread) -> None:
    ca = str(emulator.ca_path)
    status, answer = _call(_https(emulator, "/$Resources/eventhubs"), ca=ca)
    assert status == 404 and _error(answer)[0] == "404"
    status, answer = _call(_https(emulator, "/x/subscriptions"), "POST", b"", ca=ca)
    assert status == 405
    status, answer = _call(_https(emulator, "/$Resources/queues").replace("?", "?$skip=-1&"), ca=ca)
    assert status == 400


# ---------------------------------------------------------------------------------------------- authorization

KEY = "c2VjcmV0LWtleS1mb3ItdGVzdHM="


@pytest.fixture(scope="module")
def keyed() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(clock="manual", sas_key=KEY)) as running:
        yield running


def _client(emulator: EmulatorThread, key: str, key_name: str = "RootManageSharedAccessKey"
            ) -> ServiceBusAdministrationClient:
    return ServiceBusAdministrationClient.from_connection_string(
        f"Endpoint=sb://127.0.0.1:{emulator.admin_tls_port};SharedAccessKeyName={key_name};SharedAccessKey={key};"
        "UseDevelopmentEmulator=true", connection_verify=str(emulator.ca_path), retry_total=0)


def test_sas_token_is_checked_when_the_emulator_has_a_key(keyed: EmulatorThread) -> None:
    assert keyed.servicebus_admin_connection_string is not None
    assert KEY not in keyed.servicebus_admin_connection_string  # never shown
    with _client(keyed, KEY) as good:
        good.create_queue("guarded")
        assert good.get_queue("guarded").name == "guarded"
    with _client(keyed, "d3Jvbmcta2V5") as wrong, pytest.raises(ClientAuthenticationError) as caught:
        wrong.get_queue("guarded")
    assert "signature" in str(caught.value)
    assert KEY not in str(caught.value)
    with _client(keyed, KEY, key_name="SomeoneElse") as other, pytest.raises(ClientAuthenticationError):
        other.list_queues().next()
    status, answer = _call(f"https://127.0.0.1:{keyed.admin_tls_port}/guarded", ca=str(keyed.ca_path))
    assert status == 401 and "no Authorization header" in _error(answer)[1]


def test_any_token_is_accepted_without_a_key(emulator: EmulatorThread, name: str) -> None:
    with _client(emulator, "anything-at-all", key_name="whoever") as client:
        client.create_queue(name)
        assert client.get_queue(name).name == name


def test_a_temporary_ca_directory_is_removed_at_stop() -> None:
    with EmulatorThread(EmulatorSettings(clock="manual")) as running:
        assert running.ca_path is not None and running.ca_path.exists()
        ca_path = running.ca_path
    assert not ca_path.exists() and not ca_path.parent.exists()


def test_a_quota_is_a_403_http_response_error() -> None:
    from azure.core.exceptions import HttpResponseError

    with EmulatorThread(EmulatorSettings(clock="manual", max_queues=1)) as running, \
            _client(running, "any") as client:
        client.create_queue("only-one")
        with pytest.raises(HttpResponseError) as caught:
            client.create_queue("one-too-many")
        assert caught.value.status_code == 403
        assert "limit of 1 queues" in str(caught.value)


def test_ports_and_tls_dir_from_flags_and_environment(tmp_path: object) -> None:
    from queue_emulator.cli import settings_from

    settings = settings_from(["--admin-tls-port", "0", "--tls-dir", "certs"],
                             {"QUEUE_EMULATOR_ADMIN_PORT": "7000", "QUEUE_EMULATOR_ADMIN": "false"})
    assert (settings.admin_tls_port, settings.admin_port, settings.admin) == (0, 7000, False)
    assert str(settings.tls_dir) == "certs"
    defaults = settings_from([], {})
    assert (defaults.admin, defaults.admin_port, defaults.admin_tls_port, defaults.host) == (
        True, 5300, 5301, "127.0.0.1")
    with pytest.raises(SystemExit):
        settings_from(["--admin-port", "70000"], {})
