"""The Atom XML of the Service Bus management protocol: reading entity descriptions and writing entries and feeds.

Requests are parsed with ``defusedxml`` (no entity expansion, no external DTDs); answers are built with
``xml.etree``. Element names and their order are those the ``azure-servicebus`` management client serialises
(``QueueDescription``, ``TopicDescription``, ``SubscriptionDescription``, ``RuleDescription``, ``NamespaceInfo``).
A request element this module does not know is refused with :class:`AtomError` (HTTP 400), as is any value
that does not parse as its type.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from xml.etree.ElementTree import Element, SubElement

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

__all__ = [
    "ATOM",
    "INFINITE",
    "SB",
    "AtomError",
    "Field",
    "FieldKind",
    "element",
    "entry",
    "error_document",
    "feed",
    "format_duration",
    "key_values",
    "parse_bool",
    "parse_description",
    "parse_duration",
    "parse_int",
    "parse_key_values",
    "serialize",
    "xsi_type",
]

ATOM = "http://www.w3.org/2005/Atom"
SB = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
SB_COUNTS = "http://schemas.microsoft.com/netservices/2011/06/servicebus"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"

# .NET's TimeSpan.MaxValue: what Service Bus answers for "never" (default TTL, auto-delete on idle).
INFINITE = "P10675199DT2H48M5.4775807S"
_INFINITE_DAYS = 10675199

FieldKind = Literal["duration", "int", "bool", "str", "xml", "readonly"]


class AtomError(Exception):
    """The request's XML cannot be used (HTTP 400); ``message`` says what and where."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: FieldKind


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _local(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return None, tag


# ---------------------------------------------------------------------------------------------- values

_DURATION: TypeAdapter[timedelta] = TypeAdapter(timedelta)


def parse_duration(text: str | None, where: str) -> timedelta | None:
    """An ISO 8601 duration; None for .NET's TimeSpan.MaxValue (Service Bus' "never")."""
    value = (text or "").strip()
    if not value.startswith(("P", "-P")) or "Y" in value or ("M" in value.split("T")[0]):
        raise AtomError(f"{where}: {value!r} is not an ISO 8601 duration (like PT30S or P1DT2H)")
    try:
        parsed = _DURATION.validate_python(value)
    except PydanticValidationError as exc:
        raise AtomError(f"{where}: {value!r} is not an ISO 8601 duration (like PT30S or P1DT2H)") from exc
    if parsed.days >= _INFINITE_DAYS:
        return None
    if parsed < timedelta(0):
        raise AtomError(f"{where}: a duration cannot be negative")
    return parsed


def format_duration(value: timedelta | None) -> str:
    if value is None:
        return INFINITE
    total = value.total_seconds()
    days, rest = divmod(value, timedelta(days=1))
    hours, rest = divmod(rest, timedelta(hours=1))
    minutes, rest = divmod(rest, timedelta(minutes=1))
    seconds = rest.total_seconds()
    text = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds or total == 0:
        clock += f"{seconds:.7f}".rstrip("0").rstrip(".") + "S"
    return text + ("T" + clock if clock else "")


def parse_int(text: str | None, where: str) -> int:
    try:
        return int((text or "").strip())
    except ValueError:
        raise AtomError(f"{where}: {text!r} is not an integer") from None


def parse_bool(text: str | None, where: str) -> bool:
    value = (text or "").strip().lower()
    if value not in ("true", "false"):
        raise AtomError(f"{where}: {text!r} is not a boolean (true or false)")
    return value == "true"


def _check(text: str | None, kind: FieldKind, where: str) -> None:
    if kind == "duration":
        parse_duration(text, where)
    elif kind == "int":
        parse_int(text, where)
    elif kind == "bool":
        parse_bool(text, where)


# ---------------------------------------------------------------------------------------------- reading


def _parse(body: bytes) -> Element:
    if not body.strip():
        raise AtomError("the request has no body: an Atom entry is expected")
    try:
        root: Element = SafeET.fromstring(body)
    except DefusedXmlException as exc:
        raise AtomError(f"the request's XML is refused: {type(exc).__name__}") from exc
    except ET.ParseError as exc:
        raise AtomError(f"the request is not well-formed XML: {exc}") from exc
    return root


def parse_description(body: bytes, expected: Sequence[str]) -> tuple[str, Element]:
    """The description element inside ``<entry><content>``: its local name (one of ``expected``) and itself."""
    root = _parse(body)
    if root.tag != _q(ATOM, "entry"):
        raise AtomError(f"expected an Atom <entry>, got <{_local(root.tag)[1]}>")
    content = root.find(_q(ATOM, "content"))
    if content is None:
        raise AtomError("the Atom entry has no <content>")
    children = list(content)
    if len(children) != 1:
        raise AtomError(f"<content> must hold exactly one description, it holds {len(children)}")
    namespace, name = _local(children[0].tag)
    if name not in expected:
        raise AtomError(f"<content> holds <{name}>; expected {' or '.join(f'<{e}>' for e in expected)}")
    if namespace != SB:
        raise AtomError(f"<{name}> must be in the namespace {SB}")
    return name, children[0]


def fields_of(description: Element, known: Sequence[Field], what: str) -> dict[str, Element]:
    """The description's child elements by name, checked: known names only, no repeats, values of their type."""
    kinds = {f.name: f.kind for f in known}
    found: dict[str, Element] = {}
    for child in description:
        namespace, name = _local(child.tag)
        if namespace != SB or name not in kinds:
            raise AtomError(f"<{what}> has no field <{name}>")
        if name in found:
            raise AtomError(f"<{what}> gives <{name}> twice")
        _check(child.text, kinds[name], f"<{what}><{name}>")
        found[name] = child
    return found


def xsi_type(node: Element) -> str | None:
    value = node.get(_q(XSI, "type"))
    return None if value is None else value.rpartition(":")[2]


_VALUE_TYPES = ("string", "int", "long", "boolean", "double", "dateTime", "duration", "float", "short",
                "decimal", "guid", "char", "byte", "unsignedInt", "unsignedLong")


def parse_key_values(parent: Element | None, where: str) -> dict[str, Any]:
    """``<KeyValueOfstringanyType><Key/><Value i:type="d6p1:int"/>`` pairs, values of their declared type."""
    result: dict[str, Any] = {}
    if parent is None:
        return result
    for pair in parent:
        if _local(pair.tag)[1] not in ("KeyValueOfstringanyType", "KeyValueOfObjectType"):
            raise AtomError(f"{where}: unexpected <{_local(pair.tag)[1]}>")
        key_node, value_node = pair.find(_q(SB, "Key")), pair.find(_q(SB, "Value"))
        if key_node is None or not key_node.text or value_node is None:
            raise AtomError(f"{where}: each pair needs a <Key> and a <Value>")
        kind = xsi_type(value_node) or "string"
        text = value_node.text or ""
        at = f"{where} {key_node.text!r}"
        value: Any
        if kind in ("int", "long", "short", "byte", "unsignedInt", "unsignedLong"):
            value = parse_int(text, at)
        elif kind == "boolean":
            value = parse_bool(text, at)
        elif kind in ("double", "float", "decimal"):
            try:
                value = float(text)
            except ValueError:
                raise AtomError(f"{at}: {text!r} is not a number") from None
        elif kind == "dateTime":
            try:
                value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            except ValueError:
                raise AtomError(f"{at}: {text!r} is not an ISO 8601 date-time") from None
        elif kind == "duration":
            value = parse_duration(text, at)
        elif kind in _VALUE_TYPES:
            value = text
        else:
            raise AtomError(f"{at}: unsupported value type {kind!r}")
        result[key_node.text] = value
    return result


# ---------------------------------------------------------------------------------------------- writing


def element(parent: Element, name: str, text: str | None = None, namespace: str = SB) -> Element:
    node = SubElement(parent, _q(namespace, name))
    if text is not None:
        node.text = text
    return node


def _value(value: Any) -> tuple[str, str]:
    if isinstance(value, bool):
        return "boolean", "true" if value else "false"
    if isinstance(value, int):
        return ("int" if -(2**31) <= value < 2**31 else "long"), str(value)
    if isinstance(value, float):
        return "double", repr(value)
    if isinstance(value, datetime):
        return "dateTime", value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return "duration", format_duration(value)
    return "string", str(value)


def key_values(parent: Element, name: str, values: Mapping[str, Any]) -> None:
    holder = element(parent, name)
    for key, value in values.items():
        pair = element(holder, "KeyValueOfstringanyType")
        element(pair, "Key", key)
        kind, text = _value(value)
        node = element(pair, "Value", text)
        node.set(_q(XSI, "type"), f"d6p1:{kind}")
        node.set("xmlns:d6p1", XSD)


def timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def entry(*, url: str, title: str, published: datetime, updated: datetime, author: str,
          content: Element) -> Element:
    root = Element(_q(ATOM, "entry"))
    root.set("{http://www.w3.org/XML/1998/namespace}base", url)
    element(root, "id", url, ATOM)
    element(root, "title", title, ATOM).set("type", "text")
    element(root, "published", timestamp(published), ATOM)
    element(root, "updated", timestamp(updated), ATOM)
    element(element(root, "author", namespace=ATOM), "name", author, ATOM)
    link = element(root, "link", namespace=ATOM)
    link.set("rel", "self")
    link.set("href", url)
    holder = element(root, "content", namespace=ATOM)
    holder.set("type", "application/xml")
    holder.append(content)
    return root


def feed(*, url: str, title: str, updated: datetime, next_url: str | None, entries: Iterable[Element]) -> Element:
    root = Element(_q(ATOM, "feed"))
    element(root, "title", title, ATOM).set("type", "text")
    element(root, "id", url, ATOM)
    element(root, "updated", timestamp(updated), ATOM)
    for rel, href in (("self", url), ("next", next_url)):
        if href is not None:
            link = element(root, "link", namespace=ATOM)
            link.set("rel", rel)
            link.set("href", href)
    root.extend(entries)
    return root


def error_document(code: int, detail: str) -> bytes:
    root = Element("Error")
    SubElement(root, "Code").text = str(code)
    SubElement(root, "Detail").text = detail
    return serialize(root)


def serialize(root: Element) -> bytes:
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def counts_element(parent: Element, counts: Sequence[tuple[str, int]]) -> None:
    holder = element(parent, "CountDetails")
    for name, value in counts:
        element(holder, name, str(value), SB_COUNTS)
