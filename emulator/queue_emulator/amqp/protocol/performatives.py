"""AMQP 1.0 described types as dataclasses: performatives, SASL frames, termini, delivery states, sections.

Each class knows its descriptor code, its symbolic name and the AMQP type of every field (in wire order,
in the ``amqp_type`` field metadata). ``None`` means the field is absent, so the spec default applies;
encoding writes absent fields as null and drops trailing nulls. Field values are coerced to their AMQP
types on encode (a plain ``int`` handle goes out as uint, a ``str`` capability as symbol), and checked on
decode. Decoding accepts a descriptor written as a ulong code or as its symbolic name.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypeVar

from .codec import AmqpDecodeError, AmqpEncodeError, decode, encode
from .types import AmqpType, Array, Described, Symbol, Timestamp, UByte, UInt, ULong, UShort

__all__ = [
    "Accepted",
    "AmqpSequence",
    "AmqpValue",
    "ApplicationProperties",
    "Attach",
    "Begin",
    "Close",
    "Composite",
    "Data",
    "DeliveryAnnotations",
    "DeliveryState",
    "DescribedType",
    "Detach",
    "Disposition",
    "End",
    "Error",
    "ErrorCondition",
    "Flow",
    "Footer",
    "Header",
    "MessageAnnotations",
    "Modified",
    "Open",
    "Outcome",
    "Performative",
    "Properties",
    "Received",
    "ReceiverSettleMode",
    "Rejected",
    "Released",
    "Role",
    "SaslChallenge",
    "SaslCode",
    "SaslInit",
    "SaslMechanisms",
    "SaslOutcome",
    "SaslPerformative",
    "SaslResponse",
    "SenderSettleMode",
    "Source",
    "Target",
    "Transfer",
    "WireType",
    "decode_described_type",
    "described_type_for",
    "from_described",
]


class Role:
    """Values of the ``role`` field (a boolean on the wire)."""

    SENDER = False
    RECEIVER = True


class SenderSettleMode(enum.IntEnum):
    UNSETTLED = 0
    SETTLED = 1
    MIXED = 2


class ReceiverSettleMode(enum.IntEnum):
    FIRST = 0
    SECOND = 1


class SaslCode(enum.IntEnum):
    OK = 0
    AUTH = 1
    SYS = 2
    SYS_PERM = 3
    SYS_TEMP = 4


class ErrorCondition:
    """The error conditions the AMQP 1.0 spec defines (transport section 2.8.15 onwards)."""

    INTERNAL_ERROR = Symbol("amqp:internal-error")
    NOT_FOUND = Symbol("amqp:not-found")
    UNAUTHORIZED_ACCESS = Symbol("amqp:unauthorized-access")
    DECODE_ERROR = Symbol("amqp:decode-error")
    RESOURCE_LIMIT_EXCEEDED = Symbol("amqp:resource-limit-exceeded")
    NOT_ALLOWED = Symbol("amqp:not-allowed")
    INVALID_FIELD = Symbol("amqp:invalid-field")
    NOT_IMPLEMENTED = Symbol("amqp:not-implemented")
    RESOURCE_LOCKED = Symbol("amqp:resource-locked")
    PRECONDITION_FAILED = Symbol("amqp:precondition-failed")
    RESOURCE_DELETED = Symbol("amqp:resource-deleted")
    ILLEGAL_STATE = Symbol("amqp:illegal-state")
    FRAME_SIZE_TOO_SMALL = Symbol("amqp:frame-size-too-small")
    CONNECTION_FORCED = Symbol("amqp:connection:forced")
    FRAMING_ERROR = Symbol("amqp:connection:framing-error")
    CONNECTION_REDIRECT = Symbol("amqp:connection:redirect")
    WINDOW_VIOLATION = Symbol("amqp:session:window-violation")
    ERRANT_LINK = Symbol("amqp:session:errant-link")
    HANDLE_IN_USE = Symbol("amqp:session:handle-in-use")
    UNATTACHED_HANDLE = Symbol("amqp:session:unattached-handle")
    DETACH_FORCED = Symbol("amqp:link:detach-forced")
    TRANSFER_LIMIT_EXCEEDED = Symbol("amqp:link:transfer-limit-exceeded")
    MESSAGE_SIZE_EXCEEDED = Symbol("amqp:link:message-size-exceeded")
    LINK_REDIRECT = Symbol("amqp:link:redirect")
    STOLEN = Symbol("amqp:link:stolen")


class WireType(enum.Enum):
    """The AMQP type of a field, including the restricted types the spec builds from primitives."""

    BOOLEAN = "boolean"
    UBYTE = "ubyte"
    USHORT = "ushort"
    UINT = "uint"
    ULONG = "ulong"
    STRING = "string"
    SYMBOL = "symbol"
    SYMBOLS = "symbol[]"  # multiple="true": one symbol or an array of them
    BINARY = "binary"
    TIMESTAMP = "timestamp"
    FIELDS = "fields"  # map with symbol keys
    ANNOTATIONS = "annotations"  # map with symbol or ulong keys
    STRING_MAP = "string-map"  # application-properties: map with string keys
    MAP = "map"
    UNSETTLED = "unsettled"  # attach.unsettled: delivery tag -> delivery state
    LIST = "list"
    ANY = "*"
    MESSAGE_ID = "message-id"  # ulong, uuid, binary or string
    ERROR = "error"
    SOURCE = "source"
    TARGET = "target"
    DELIVERY_STATE = "delivery-state"


# ------------------------------------------------------------------------------- field coercion


def _encode_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise AmqpEncodeError(f"expected a bool, got {type(value).__name__}")
    return value


def _bounded(cls: type[int]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise AmqpEncodeError(f"expected an int for {cls.__name__}, got {type(value).__name__}")
        try:
            return cls(value)
        except ValueError as exc:
            raise AmqpEncodeError(str(exc)) from exc

    return convert


def _encode_string(value: Any) -> Any:
    if not isinstance(value, str):
        raise AmqpEncodeError(f"expected a str, got {type(value).__name__}")
    # A Symbol passed for a string field must still go out as string.
    return value if type(value) is str else str.__str__(value)


def _encode_symbol(value: Any) -> Any:
    if not isinstance(value, str):
        raise AmqpEncodeError(f"expected a str for a symbol, got {type(value).__name__}")
    return value if type(value) is Symbol else Symbol(value)


def _encode_symbols(value: Any) -> Any:
    if isinstance(value, str):
        value = [value]
    return Array(AmqpType.SYMBOL, tuple(_encode_symbol(item) for item in value))


def _encode_binary(value: Any) -> Any:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise AmqpEncodeError(f"expected bytes, got {type(value).__name__}")
    return bytes(value)


def _encode_timestamp(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return Timestamp.from_datetime(value)
    return _bounded(Timestamp)(value)


def _encode_map(value: Any) -> Any:
    if not isinstance(value, dict):
        raise AmqpEncodeError(f"expected a dict, got {type(value).__name__}")
    return value


def _encode_fields(value: Any) -> Any:
    return {_encode_symbol(key): item for key, item in _encode_map(value).items()}


def _annotation_key(key: Any) -> Any:
    if isinstance(key, str):
        return _encode_symbol(key)
    if isinstance(key, int) and not isinstance(key, bool):
        return _bounded(ULong)(key)
    raise AmqpEncodeError(f"annotation keys are symbols or ulongs, got {type(key).__name__}")


def _encode_annotations(value: Any) -> Any:
    return {_annotation_key(key): item for key, item in _encode_map(value).items()}


def _encode_string_map(value: Any) -> Any:
    return {_encode_string(key): item for key, item in _encode_map(value).items()}


def _encode_list(value: Any) -> Any:
    if not isinstance(value, list | tuple):
        raise AmqpEncodeError(f"expected a list, got {type(value).__name__}")
    return value


def _encode_message_id(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return _bounded(ULong)(value)
    if isinstance(value, str):
        return _encode_string(value)
    if isinstance(value, bytes | bytearray | uuid.UUID):
        return value
    raise AmqpEncodeError(f"a message id is a ulong, uuid, binary or string, not {type(value).__name__}")


def _encode_described(value: Any) -> Any:
    if isinstance(value, DescribedType):
        return value.to_described()
    if isinstance(value, Described):
        return value
    raise AmqpEncodeError(f"expected a described type, got {type(value).__name__}")


def _encode_unsettled(value: Any) -> Any:
    return {
        _encode_binary(tag): None if state is None else _encode_described(state)
        for tag, state in _encode_map(value).items()
    }


def _decode_unsettled(value: Any) -> Any:
    to_state = _decode_as(lambda: DeliveryState, keep_unknown=True)
    return {tag: None if state is None else to_state(state) for tag, state in _decode_map(value).items()}


def _identity(value: Any) -> Any:
    return value


def _bad(kind: str, value: Any) -> AmqpDecodeError:
    return AmqpDecodeError(f"expected {kind}, got {type(value).__name__}")


def _decode_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise _bad("boolean", value)
    return value


def _decode_bounded(cls: type[int]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(cls.__name__, value)
        try:
            return int(cls(value))
        except ValueError as exc:
            raise AmqpDecodeError(str(exc)) from exc

    return convert


def _decode_string(value: Any) -> Any:
    if not isinstance(value, str):
        raise _bad("string", value)
    return str.__str__(value)


def _decode_symbol(value: Any) -> Any:
    if not isinstance(value, str):
        raise _bad("symbol", value)
    return value if type(value) is Symbol else Symbol(value)


def _decode_symbols(value: Any) -> Any:
    if isinstance(value, str):
        return [_decode_symbol(value)]
    if isinstance(value, Array | list):
        items = value.items if isinstance(value, Array) else value
        return [_decode_symbol(item) for item in items]
    raise _bad("symbol or symbol array", value)


def _decode_binary(value: Any) -> Any:
    if not isinstance(value, bytes):
        raise _bad("binary", value)
    return value


def _decode_timestamp(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad("timestamp", value)
    return value if type(value) is Timestamp else Timestamp(value)


def _decode_map(value: Any) -> Any:
    if not isinstance(value, dict):
        raise _bad("map", value)
    return value


def _decode_list(value: Any) -> Any:
    if not isinstance(value, list):
        raise _bad("list", value)
    return value


def _decode_message_id(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str | bytes | uuid.UUID):
        raise _bad("message id", value)
    return value


def _decode_as(allowed: Callable[[], type[DescribedType]], keep_unknown: bool) -> Callable[[Any], Any]:
    """Convert a described value to a subclass of ``allowed()``; extension types we do not model stay raw.

    ``allowed`` is a callable because the classes are defined after the converter table.
    """

    def convert(value: Any) -> Any:
        if not isinstance(value, Described):
            raise _bad("described type", value)
        cls = described_type_for(value.descriptor)
        if cls is None:
            if keep_unknown:
                return value
            raise AmqpDecodeError(f"unknown descriptor {value.descriptor!r}")
        if not issubclass(cls, allowed()):
            raise AmqpDecodeError(f"{cls.__name__} is not allowed here")
        return cls._from_wire(value.value)

    return convert


_Convert = Callable[[Any], Any]


# field type -> (to wire, from wire)
_CONVERTERS: dict[WireType, tuple[_Convert, _Convert]] = {
    WireType.BOOLEAN: (_encode_bool, _decode_bool),
    WireType.UBYTE: (_bounded(UByte), _decode_bounded(UByte)),
    WireType.USHORT: (_bounded(UShort), _decode_bounded(UShort)),
    WireType.UINT: (_bounded(UInt), _decode_bounded(UInt)),
    WireType.ULONG: (_bounded(ULong), _decode_bounded(ULong)),
    WireType.STRING: (_encode_string, _decode_string),
    WireType.SYMBOL: (_encode_symbol, _decode_symbol),
    WireType.SYMBOLS: (_encode_symbols, _decode_symbols),
    WireType.BINARY: (_encode_binary, _decode_binary),
    WireType.TIMESTAMP: (_encode_timestamp, _decode_timestamp),
    WireType.FIELDS: (_encode_fields, _decode_map),
    WireType.ANNOTATIONS: (_encode_annotations, _decode_map),
    WireType.STRING_MAP: (_encode_string_map, _decode_map),
    WireType.MAP: (_encode_map, _decode_map),
    WireType.UNSETTLED: (_encode_unsettled, _decode_unsettled),
    WireType.LIST: (_encode_list, _decode_list),
    WireType.ANY: (_identity, _identity),
    WireType.MESSAGE_ID: (_encode_message_id, _decode_message_id),
    WireType.ERROR: (_encode_described, _decode_as(lambda: Error, keep_unknown=False)),
    WireType.SOURCE: (_encode_described, _decode_as(lambda: Source, keep_unknown=True)),
    WireType.TARGET: (_encode_described, _decode_as(lambda: Target, keep_unknown=True)),
    WireType.DELIVERY_STATE: (_encode_described, _decode_as(lambda: DeliveryState, keep_unknown=True)),
}


def _wire(kind: WireType) -> dict[str, Any]:
    """Field metadata of an optional field (absent = None = the spec default)."""
    return {"amqp_type": kind, "mandatory": False}


def _required(kind: WireType) -> dict[str, Any]:
    """Field metadata of a field the spec marks mandatory."""
    return {"amqp_type": kind, "mandatory": True}


# ------------------------------------------------------------------------------- registry and bases

_BY_CODE: dict[int, type[DescribedType]] = {}
_BY_NAME: dict[str, type[DescribedType]] = {}
_T = TypeVar("_T", bound="DescribedType")


class DescribedType:
    """Base of every modelled described type."""

    __slots__ = ()
    DESCRIPTOR: ClassVar[int]
    SYMBOLIC: ClassVar[Symbol]
    _DESCRIPTOR_VALUE: ClassVar[ULong]

    def to_described(self) -> Described:
        raise NotImplementedError

    def encode(self) -> bytes:
        return encode(self.to_described())

    @classmethod
    def _from_wire(cls, value: Any) -> Self:
        raise NotImplementedError


class Composite(DescribedType):
    """A described list whose items are the dataclass fields in declaration order."""

    __slots__ = ()
    _PLAN: ClassVar[tuple[tuple[str, _Convert, _Convert, bool], ...]]
    _MIN_FIELDS: ClassVar[int] = 0
    """Fields always written even when null: some peers index optional trailing fields by position."""

    def to_described(self) -> Described:
        values: list[Any] = []
        for name, to_wire, _, mandatory in self._PLAN:
            value = getattr(self, name)
            if value is None:
                if mandatory:
                    raise AmqpEncodeError(f"{type(self).__name__}.{name} is mandatory")
                values.append(None)
            else:
                try:
                    values.append(to_wire(value))
                except AmqpEncodeError as exc:
                    raise AmqpEncodeError(f"{type(self).__name__}.{name}: {exc}") from exc
        while len(values) > self._MIN_FIELDS and values[-1] is None:
            values.pop()
        return Described(self._DESCRIPTOR_VALUE, values)

    @classmethod
    def _from_wire(cls, value: Any) -> Self:
        if not isinstance(value, list):
            raise AmqpDecodeError(f"{cls.__name__} must be encoded as a list, got {type(value).__name__}")
        kwargs: dict[str, Any] = {}
        # Items past the known fields come from a later protocol revision: ignoring them is forward
        # compatible.
        for index, (name, _, from_wire, mandatory) in enumerate(cls._PLAN):
            item = value[index] if index < len(value) else None
            if item is None:
                if mandatory:
                    raise AmqpDecodeError(f"{cls.__name__}.{name} is mandatory but missing")
                kwargs[name] = None
                continue
            try:
                kwargs[name] = from_wire(item)
            except AmqpDecodeError as exc:
                raise AmqpDecodeError(f"{cls.__name__}.{name}: {exc}") from exc
        return cls(**kwargs)


class _Restricted(DescribedType):
    """A described non-list value (a map, binary or any value) held in the ``value`` field."""

    __slots__ = ()
    _KIND: ClassVar[WireType]
    _NULLABLE: ClassVar[bool] = False
    value: Any

    def to_described(self) -> Described:
        if self.value is None and not self._NULLABLE:
            raise AmqpEncodeError(f"{type(self).__name__}.value is mandatory")
        to_wire = _CONVERTERS[self._KIND][0]
        return Described(self._DESCRIPTOR_VALUE, None if self.value is None else to_wire(self.value))

    @classmethod
    def _from_wire(cls, value: Any) -> Self:
        if value is None:
            if not cls._NULLABLE:
                raise AmqpDecodeError(f"{cls.__name__} must not be null")
            return cls(value=None)  # type: ignore[call-arg]
        return cls(value=_CONVERTERS[cls._KIND][1](value))  # type: ignore[call-arg]


class Performative(Composite):
    """Body of an AMQP (type 0) frame."""

    __slots__ = ()


class SaslPerformative(Composite):
    """Body of a SASL (type 1) frame."""

    __slots__ = ()


class DeliveryState(Composite):
    """State of a delivery: received, or one of the outcomes."""

    __slots__ = ()


class Outcome(DeliveryState):
    """A terminal delivery state."""

    __slots__ = ()


def _register(code: int, name: str) -> Callable[[type[_T]], type[_T]]:
    def apply(cls: type[_T]) -> type[_T]:
        cls.DESCRIPTOR = code
        cls.SYMBOLIC = Symbol(name)
        cls._DESCRIPTOR_VALUE = ULong(code)
        if issubclass(cls, Composite):
            plan = []
            for fld in dataclasses.fields(cls):  # type: ignore[arg-type]
                to_wire, from_wire = _CONVERTERS[fld.metadata["amqp_type"]]
                plan.append((fld.name, to_wire, from_wire, bool(fld.metadata["mandatory"])))
            cls._PLAN = tuple(plan)
        _BY_CODE[code] = cls
        _BY_NAME[name] = cls
        return cls

    return apply


def described_type_for(descriptor: Any) -> type[DescribedType] | None:
    """The modelled class for a descriptor given as a ulong code or a symbolic name, if any."""
    if isinstance(descriptor, bool):
        return None
    if isinstance(descriptor, int):
        return _BY_CODE.get(descriptor)
    if isinstance(descriptor, str):
        return _BY_NAME.get(descriptor)
    return None


def from_described(value: Described) -> DescribedType:
    """Convert a decoded :class:`Described` to its dataclass; unknown descriptors raise AmqpDecodeError."""
    cls = described_type_for(value.descriptor)
    if cls is None:
        raise AmqpDecodeError(f"unknown descriptor {value.descriptor!r}")
    return cls._from_wire(value.value)


def decode_described_type(buf: bytes | bytearray | memoryview, offset: int = 0) -> tuple[DescribedType, int]:
    """Decode one modelled described type (a performative, a section, ...) at ``offset``."""
    value, end = decode(buf, offset)
    if not isinstance(value, Described):
        raise AmqpDecodeError(f"expected a described type, got {type(value).__name__}")
    return from_described(value), end


# ------------------------------------------------------------------------------- definitions


@_register(0x1D, "amqp:error:list")
@dataclass(slots=True, kw_only=True)
class Error(Composite):
    # The azure-servicebus SDK reads ``error[2]`` (info) unconditionally when a connection closes or a delivery is
    # rejected: an omitted trailing field becomes an IndexError that hangs the send. Always write all three.
    _MIN_FIELDS: ClassVar[int] = 3

    condition: Symbol | str = field(metadata=_required(WireType.SYMBOL))
    description: str | None = field(default=None, metadata=_wire(WireType.STRING))
    info: dict[Any, Any] | None = field(default=None, metadata=_wire(WireType.FIELDS))


@_register(0x23, "amqp:received:list")
@dataclass(slots=True, kw_only=True)
class Received(DeliveryState):
    section_number: int = field(metadata=_required(WireType.UINT))
    section_offset: int = field(metadata=_required(WireType.ULONG))


@_register(0x24, "amqp:accepted:list")
@dataclass(slots=True, kw_only=True)
class Accepted(Outcome):
    pass


@_register(0x25, "amqp:rejected:list")
@dataclass(slots=True, kw_only=True)
class Rejected(Outcome):
    error: Error | Described | None = field(default=None, metadata=_wire(WireType.ERROR))


@_register(0x26, "amqp:released:list")
@dataclass(slots=True, kw_only=True)
class Released(Outcome):
    pass


@_register(0x27, "amqp:modified:list")
@dataclass(slots=True, kw_only=True)
class Modified(Outcome):
    delivery_failed: bool | None = field(default=None, metadata=_wire(WireType.BOOLEAN))
    undeliverable_here: bool | None = field(default=None, metadata=_wire(WireType.BOOLEAN))
    message_annotations: dict[Any, Any] | None = field(default=None, metadata=_wire(WireType.FIELDS))


@_register(0x28, "amqp:source:list")
@dataclass(slots=True, kw_only=True)
class Source(Composite):
    address: str | None = field(default=None, metadata=_wire(WireType.STRING))
    durable: int | None = field(default=None, metadata=_wire(WireType.UINT))
    expiry_policy: Symbol | str | None = field(default=None, metadata=_wire(WireType.SYMBOL))
    timeout: int | None = field(default=None, metadata=_wire(WireType.UINT))
    dynamic: bool | None = field(default=None, metadata=_wire(WireType.BOOLEAN))
    dynamic_node_properties: dict[Any, Any] | None = field(default=None, metadata=_wire(WireType.FIELDS))
    distribution_mode: Symbol | str | None = field(default=None, metadata=_wire(WireType.SYMBOL))
    filters: dict[Any, Any] | None = field(default=None, metadata=_wire(WireType.FIELDS))
    default_outcome: DeliveryState | Described | None = field(
        default=None, metadata=_wire(WireType.DELIVERY_STATE)
    )
    outcomes: Sequence[str] | None = field(default=None, metadata=_wire(WireType.SYMBOLS))
    capabilities: Sequence[str] | None = field(default=None, metadata=_wire(WireType.SYMBOLS))


@_register(0x29, "amqp:target:list")
@dataclass(slots=True, kw_only=True)
class Target(Composite):
    address: str | None = field(default=None, metadata=_wire(WireType.STRING))
    durable: int | None = field(default=None, metadata=_wire(WireType.UINT))
    expiry_policy: Symbol | str | None = field(default=None, metadata=_wire(WireType.SYMBOL))
    timeout: int | None = field(default=None, metadata=_wire(WireType.UINT))
    dynamic: bool | None = field(default=None, metadata=_wire(WireType.BOOLEAN))
    dynamic_node_properties: dict[Any, Any] | None = field(default=None, metadata=_wire(WireType.FIELDS))
    capabilities: Sequence[str] | None = field(default=None, metadata=_wire(WireType.SYMBOLS))


@_register(0x10, "amqp:open:list")
@dataclass(slots=True, kw_only=True)
class Open(Performative):
    container_id: str = field(metadata=_required(WireType.STRING))
    hostname: str | None = field(default=None, metadata=_wire(WireType.STRING))
    max_frame_size: int | None = field(default=None, metadata=_wire(WireType.UINT))
    channel_max: int | None = field(default=None, metadata=_wire(WireType.USHORT))
    idle_timeout: int | None = field(default=None, metadata=_wire(WireType.UINT))
    outgoing_locales: Sequence[str] | None = field(default=None, metadata=_wire(WireType.SYMBOLS))
    incoming_locales: Sequence[str] | None = field(default=None, metadata=_wire(WireType.SYMBOLS))
    offered_capabilities: Sequence[str] | None = field(default=None, metadata=_wire(WireType.SYMBOLS))
    desired_capabilities: Sequence[str] | None = field(default=None, metadata=_wire(WireType.SYMBOLS))
    properties: dict[Any, Any] | None = field(default=None, metadata=_wire(WireType.FIELDS))


@_register(0x11, "amqp:begin:list")
@dataclass(slots=True, kw_only=True)
class Begin(Performative):
    remote_channel: int | None = field(default=None, metadata=_wire(WireType.USHORT))
    next_outgoing_id: int = field(metadata=_required(WireType.UINT))
    incoming_window: int = field(metadata=_required(WireType.UINT))
    outgoing_window: int = field(metadata=_required(WireType.UINT))
    handle_max: int | None = field(default=None, metadata=_wire(WireType.UINT))
    offered_capabilities: Sequence[str] | None = field(default=None, metadata=_wire(WireType.SYMBOLS))
    desired_capabilities: Sequence[str] | None = field(default=None, metadata=_wire(WireType.SYMBOLS))
    properties: dict[Any, Any] | None = field(default=None, metadata=_wire(WireType.FIELDS))


@_register(0x12, "amqp:attach:list")
@dataclass(slots=True, kw_only=True)
class Attach(Performative):
    name: str = field(metadata=_required(WireType.STRING))
    handle: int = field(metadata=_required(WireType.UINT))
    role: bool = field(metadata=_required(WireType.BOOLEAN))
    snd_settle_mode: int | None = field(default=None, metadata=_wire(WireType.UBYTE))
    rcv_settle_mode: int | None = field(default=None, metadata=_wire(WireType.UBYTE))
    source: Source | Described | None = field(default=None, metadata=_wire(WireType.SOURCE))
    target: Target | Described | None = field(default=None, metadata=_wire(WireType.TARGET))
    unsettled: dict[bytes, Any] | None = field(default=None, metadata=_wire(WireType.UNSETTLED))
    incomplete_unsettled: bool | None = field(default=None, metadata=_wire(WireType.BOOLEAN))
    initial_delivery_count: int | None = field(default=None, metadata=_wire(WireType.UINT))
    max_message_size: int | None = field(default=None, metadata=_wire(WireType.ULONG))
    offered_capabilities: Sequence[str] | None = field(default=None, metadata=_wire(WireType.SYMBOLS))
    desired_capabilities: Sequence[str] | None = field(default=None, metadata=_wire(WireType.SYMBOLS))
    properties: dict[Any, Any] | None = field(default=None, metadata=_wire(WireType.FIELDS))


@_register(0x13, "amqp:flow:list")
@dataclass(slots=True, kw_only=True)
class Flow(Performative):
    next_incoming_id: int | None = field(default=None, metadata=_wire(WireType.UINT))
    incoming_window: int = field(metadata=_required(WireType.UINT))
    next_outgoing_id: int = field(metadata=_required(WireType.UINT))
    outgoing_window: int = field(metadata=_required(WireType.UINT))
    handle: int | None = field(default=None, metadata=_wire(WireType.UINT))
    delivery_count: int | None = field(default=None, metadata=_wire(WireType.UINT))
    link_credit: int | None = field(default=None, metadata=_wire(WireType.UINT))
    available: int | None = field(default=None, metadata=_wire(WireType.UINT))
    drain: bool | None = field(default=None, metadata=_wire(WireType.BOOLEAN))
    echo: bool | None = field(default=None, metadata=_wire(WireType.BOOLEAN))
    properties: dict[Any, Any] | None = field(default=None, metadata=_wire(WireType.FIELDS))


@_register(0x14, "amqp:transfer:list")
@dataclass(slots=True, kw_only=True)
class Transfer(Performative):
    handle: int = field(metadata=_required(WireType.UINT))
    delivery_id: int | None = field(default=None, metadata=_wire(WireType.UINT))
    delivery_tag: bytes | None = field(default=None, metadata=_wire(WireType.BINARY))
    message_format: int | None = field(default=None, metadata=_wire(WireType.UINT))
    # None differs from False here: on a continuation transfer it inherits the earlier value.
    settled: bool | None = field(default=None, metadata=_wire(WireType.BOOLEAN))
    more: bool | None = field(default=None, metadata=_wire(WireType.BOOLEAN))
    rcv_settle_mode: int | None = field(default=None, metadata=_wire(WireType.UBYTE))
    state: DeliveryState | Described | None = field(default=None, metadata=_wire(WireType.DELIVERY_STATE))
    resume: bool | None = field(default=None, metadata=_wire(WireType.BOOLEAN))
    aborted: bool | None = field(default=None, metadata=_wire(WireType.BOOLEAN))
    batchable: bool | None = field(default=None, metadata=_wire(WireType.BOOLEAN))


@_register(0x15, "amqp:disposition:list")
@dataclass(slots=True, kw_only=True)
class Disposition(Performative):
    role: bool = field(metadata=_required(WireType.BOOLEAN))
    first: int = field(metadata=_required(WireType.UINT))
    last: int | None = field(default=None, metadata=_wire(WireType.UINT))
    settled: bool | None = field(default=None, metadata=_wire(WireType.BOOLEAN))
    state: DeliveryState | Described | None = field(default=None, metadata=_wire(WireType.DELIVERY_STATE))
    batchable: bool | None = field(default=None, metadata=_wire(WireType.BOOLEAN))


@_register(0x16, "amqp:detach:list")
@dataclass(slots=True, kw_only=True)
class Detach(Performative):
    handle: int = field(metadata=_required(WireType.UINT))
    closed: bool | None = field(default=None, metadata=_wire(WireType.BOOLEAN))
    error: Error | Described | None = field(default=None, metadata=_wire(WireType.ERROR))


@_register(0x17, "amqp:end:list")
@dataclass(slots=True, kw_only=True)
class End(Performative):
    error: Error | Described | None = field(default=None, metadata=_wire(WireType.ERROR))


@_register(0x18, "amqp:close:list")
@dataclass(slots=True, kw_only=True)
class Close(Performative):
    error: Error | Described | None = field(default=None, metadata=_wire(WireType.ERROR))


@_register(0x40, "amqp:sasl-mechanisms:list")
@dataclass(slots=True, kw_only=True)
class SaslMechanisms(SaslPerformative):
    sasl_server_mechanisms: Sequence[str] = field(metadata=_required(WireType.SYMBOLS))


@_register(0x41, "amqp:sasl-init:list")
@dataclass(slots=True, kw_only=True)
class SaslInit(SaslPerformative):
    mechanism: Symbol | str = field(metadata=_required(WireType.SYMBOL))
    # never in a repr: SASL PLAIN carries the password here, and debug logs print performatives
    initial_response: bytes | None = field(default=None, repr=False, metadata=_wire(WireType.BINARY))
    hostname: str | None = field(default=None, metadata=_wire(WireType.STRING))


@_register(0x42, "amqp:sasl-challenge:list")
@dataclass(slots=True, kw_only=True)
class SaslChallenge(SaslPerformative):
    challenge: bytes = field(metadata=_required(WireType.BINARY))


@_register(0x43, "amqp:sasl-response:list")
@dataclass(slots=True, kw_only=True)
class SaslResponse(SaslPerformative):
    response: bytes = field(metadata=_required(WireType.BINARY))


@_register(0x44, "amqp:sasl-outcome:list")
@dataclass(slots=True, kw_only=True)
class SaslOutcome(SaslPerformative):
    code: int = field(metadata=_required(WireType.UBYTE))
    additional_data: bytes | None = field(default=None, metadata=_wire(WireType.BINARY))


@_register(0x70, "amqp:header:list")
@dataclass(slots=True, kw_only=True)
class Header(Composite):
    durable: bool | None = field(default=None, metadata=_wire(WireType.BOOLEAN))
    priority: int | None = field(default=None, metadata=_wire(WireType.UBYTE))
    ttl: int | None = field(default=None, metadata=_wire(WireType.UINT))
    first_acquirer: bool | None = field(default=None, metadata=_wire(WireType.BOOLEAN))
    delivery_count: int | None = field(default=None, metadata=_wire(WireType.UINT))


@_register(0x73, "amqp:properties:list")
@dataclass(slots=True, kw_only=True)
class Properties(Composite):
    message_id: Any = field(default=None, metadata=_wire(WireType.MESSAGE_ID))
    user_id: bytes | None = field(default=None, metadata=_wire(WireType.BINARY))
    to: str | None = field(default=None, metadata=_wire(WireType.STRING))
    subject: str | None = field(default=None, metadata=_wire(WireType.STRING))
    reply_to: str | None = field(default=None, metadata=_wire(WireType.STRING))
    correlation_id: Any = field(default=None, metadata=_wire(WireType.MESSAGE_ID))
    content_type: Symbol | str | None = field(default=None, metadata=_wire(WireType.SYMBOL))
    content_encoding: Symbol | str | None = field(default=None, metadata=_wire(WireType.SYMBOL))
    absolute_expiry_time: int | _dt.datetime | None = field(default=None, metadata=_wire(WireType.TIMESTAMP))
    creation_time: int | _dt.datetime | None = field(default=None, metadata=_wire(WireType.TIMESTAMP))
    group_id: str | None = field(default=None, metadata=_wire(WireType.STRING))
    group_sequence: int | None = field(default=None, metadata=_wire(WireType.UINT))
    reply_to_group_id: str | None = field(default=None, metadata=_wire(WireType.STRING))


@_register(0x71, "amqp:delivery-annotations:map")
@dataclass(slots=True)
class DeliveryAnnotations(_Restricted):
    _KIND = WireType.ANNOTATIONS
    value: dict[Any, Any]


@_register(0x72, "amqp:message-annotations:map")
@dataclass(slots=True)
class MessageAnnotations(_Restricted):
    _KIND = WireType.ANNOTATIONS
    value: dict[Any, Any]


@_register(0x74, "amqp:application-properties:map")
@dataclass(slots=True)
class ApplicationProperties(_Restricted):
    _KIND = WireType.STRING_MAP
    value: dict[str, Any]


@_register(0x75, "amqp:data:binary")
@dataclass(slots=True)
class Data(_Restricted):
    _KIND = WireType.BINARY
    value: bytes


@_register(0x76, "amqp:amqp-sequence:list")
@dataclass(slots=True)
class AmqpSequence(_Restricted):
    _KIND = WireType.LIST
    value: list[Any]


@_register(0x77, "amqp:amqp-value:*")
@dataclass(slots=True)
class AmqpValue(_Restricted):
    _KIND = WireType.ANY
    _NULLABLE = True
    value: Any


@_register(0x78, "amqp:footer:map")
@dataclass(slots=True)
class Footer(_Restricted):
    _KIND = WireType.ANNOTATIONS
    value: dict[Any, Any]
