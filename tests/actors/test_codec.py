"""The msgpack wire codec: round trips, stable tags, and clear errors for bad data."""

from __future__ import annotations

import dataclasses
import struct
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from repertory.actors import CodecError, Request
from repertory.actors.transport import Codec


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Empty:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    name: str
    tags: tuple[str, ...]
    attrs: dict[str, int]
    blob: bytes
    note: str | None
    at: datetime
    is_urgent: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    points: tuple[Point, ...]
    by_id: dict[int, Ping]
    event: Event | None
    pair: tuple[int, tuple[str, bytes]]


@dataclass(frozen=True, slots=True, kw_only=True)
class GetTotal(Request[int]):
    account: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Positive:
    value: int

    def __post_init__(self) -> None:
        if self.value <= 0:
            raise ValueError("value must be positive")


class NotAColorError(Exception):
    """What `Color` raises for a bad name: not a TypeError nor a ValueError."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Color:
    name: str

    def __post_init__(self) -> None:
        if self.name not in {"red", "green"}:
            raise NotAColorError(self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotRegistered:
    value: int


CODEC = Codec(
    {
        "test.ping": Ping,
        "test.empty": Empty,
        "test.point": Point,
        "test.event": Event,
        "test.batch": Batch,
        "test.get_total": GetTotal,
        "test.positive": Positive,
        "test.color": Color,
    }
)

# Strategies for values msgpack carries exactly (64-bit ints, no NaN: NaN != NaN).
ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
floats = st.floats(allow_nan=False)
offsets = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)
# Within a day of datetime's limits an instant may not exist in UTC: it cannot be decoded.
aware_datetimes = st.datetimes(
    min_value=datetime.min + timedelta(days=1),
    max_value=datetime.max - timedelta(days=1),
    timezones=st.just(UTC) | offsets,
)

points = st.builds(Point, x=floats, y=floats)
pings = st.builds(Ping, seq=ints)
events = st.builds(
    Event,
    name=st.text(),
    tags=st.lists(st.text(max_size=8), max_size=5).map(tuple),
    attrs=st.dictionaries(st.text(max_size=8), ints, max_size=5),
    blob=st.binary(max_size=64),
    note=st.none() | st.text(),
    at=aware_datetimes,
    is_urgent=st.booleans(),
)
STRATEGIES: dict[type, st.SearchStrategy[object]] = {
    Ping: pings,
    Empty: st.builds(Empty),
    Point: points,
    Event: events,
    Batch: st.builds(
        Batch,
        points=st.lists(points, max_size=4).map(tuple),
        by_id=st.dictionaries(ints, pings, max_size=4),
        event=st.none() | events,
        pair=st.tuples(ints, st.tuples(st.text(), st.binary())),
    ),
    GetTotal: st.builds(GetTotal, account=st.text()),
    Positive: st.builds(Positive, value=st.integers(min_value=1, max_value=2**63 - 1)),
    Color: st.builds(Color, name=st.sampled_from(["red", "green"])),
}


def test_every_registered_type_has_a_strategy() -> None:
    assert set(STRATEGIES) == set(CODEC.types.values())


@given(st.one_of(*STRATEGIES.values()))
def test_registered_messages_round_trip(message: object) -> None:
    decoded = CODEC.decode(CODEC.encode(message))
    assert type(decoded) is type(message)
    assert decoded == message


@given(st.lists(st.one_of(*STRATEGIES.values()), max_size=5).map(tuple))
def test_messages_inside_plain_values_round_trip(messages: tuple[object, ...]) -> None:
    value = (1, "tell", messages, {"key": messages})
    assert CODEC.decode(CODEC.encode(value)) == value


def test_tuples_stay_tuples_and_lists_become_tuples() -> None:
    decoded = CODEC.decode(CODEC.encode({"t": (1, (2, 3)), "l": [4, [5]]}))
    assert decoded == {"t": (1, (2, 3)), "l": (4, (5,))}


def test_datetimes_decode_as_the_same_instant_in_utc() -> None:
    moment = datetime(2026, 11, 25, 17, 30, 1, 250, tzinfo=timezone(timedelta(hours=2)))
    decoded = CODEC.decode(CODEC.encode(moment))
    assert decoded == moment
    assert isinstance(decoded, datetime)
    assert decoded.utcoffset() == timedelta(0)


def test_a_message_travels_as_an_ext_value_with_its_tag_and_fields() -> None:
    data = CODEC.encode(Point(x=1.5, y=-2.0))
    ext = msgpack.unpackb(data)
    assert isinstance(ext, msgpack.ExtType)
    assert ext.code == 1
    assert msgpack.unpackb(ext.data) == ["test.point", 1.5, -2.0]


def test_unknown_tag_is_a_codec_error() -> None:
    data = CODEC.encode(Ping(seq=1))
    other = Codec({"test.point": Point})
    with pytest.raises(CodecError, match=r"unknown message tag 'test\.ping'"):
        other.decode(data)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        pytest.param(b"", "malformed", id="empty"),
        pytest.param(b"\xc1", "malformed", id="reserved-byte"),
        pytest.param(b"\x93\x01\x02", "malformed", id="truncated-array"),
        pytest.param(b"\x01\x02", "malformed", id="extra-data"),
        pytest.param(b"\xdb\xff\xff\xff\xff", "malformed", id="huge-str-length"),
        pytest.param(msgpack.packb(msgpack.ExtType(7, b"")), "ext type 7", id="unknown-ext"),
        pytest.param(
            msgpack.packb(msgpack.ExtType(1, msgpack.packb(42))), "expected an array", id="no-tag"
        ),
        pytest.param(
            msgpack.packb(msgpack.ExtType(1, b"\xc1")), "malformed", id="garbage-in-message"
        ),
        pytest.param(
            msgpack.packb(msgpack.ExtType(1, msgpack.packb(["test.ping", 1, 2]))),
            "has 1 fields, the data has 2",
            id="extra-field",
        ),
        pytest.param(
            msgpack.packb(msgpack.ExtType(1, msgpack.packb(["test.positive", -1]))),
            "cannot build message 'test.positive'",
            id="invalid-field",
        ),
        pytest.param(
            msgpack.packb(msgpack.ExtType(1, msgpack.packb(["test.color", "blue"]))),
            "cannot build message 'test.color'.*NotAColorError",
            id="any-exception-from-post-init",
        ),
        pytest.param(b"\x81\x80\x01", "unhashable", id="map-as-key"),
        # msgpack timestamps (ext -1: nanoseconds, then seconds) beyond datetime's range.
        pytest.param(b"\xc7\x0c\xff" + struct.pack(">Iq", 0, 2**62), "malformed", id="far-future"),
        pytest.param(b"\xc7\x0c\xff" + struct.pack(">Iq", 0, -(2**62)), "malformed", id="far-past"),
    ],
)
def test_malformed_data_is_a_codec_error(data: bytes, match: str) -> None:
    with pytest.raises(CodecError, match=match):
        CODEC.decode(data)


def test_deeply_nested_data_is_a_codec_error() -> None:
    data = b"\x91" * 100_000 + b"\x01"
    with pytest.raises(CodecError):
        CODEC.decode(data)


def test_deeply_nested_messages_are_a_codec_error() -> None:
    data = msgpack.packb(1)
    for _ in range(2000):
        data = msgpack.packb(msgpack.ExtType(1, msgpack.packb(["test.ping", 0]) + data))
    with pytest.raises(CodecError):
        CODEC.decode(data)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        pytest.param(
            NotRegistered(value=1), "NotRegistered: its type is not registered", id="type"
        ),
        pytest.param(Ping(seq=2**64), "cannot encode", id="int-too-big"),
        pytest.param(datetime(2026, 1, 1), "naive datetime", id="naive-datetime"),
        pytest.param({1, 2}, "a value of type set", id="set"),
        pytest.param((1, ("nested", object())), "a value of type object", id="object"),
    ],
)
def test_unencodable_values_are_a_codec_error(value: object, match: str) -> None:
    with pytest.raises(CodecError, match=match):
        CODEC.encode(value)


def test_messages_nested_too_deep_are_a_codec_error() -> None:
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Node:
        child: object

    codec = Codec({"test.node": Node})
    shallow: object = None
    for _ in range(50):
        shallow = Node(child=shallow)
    assert codec.decode(codec.encode(shallow)) == shallow
    deep: object = shallow
    for _ in range(100):
        deep = Node(child=deep)
    with pytest.raises(CodecError, match="nest more than 100 deep"):
        codec.encode(deep)
    assert codec.decode(codec.encode(shallow)) == shallow


def test_the_codec_still_works_after_an_encoding_error() -> None:
    unencodable: dict[int, object] = {1: NotRegistered(value=1)}
    with pytest.raises(CodecError):
        CODEC.encode((Point(x=0.0, y=1.0), (Ping(seq=1), unencodable)))
    message = Batch(
        points=(Point(x=0.0, y=1.0),), by_id={1: Ping(seq=1)}, event=None, pair=(1, ("", b""))
    )
    assert CODEC.decode(CODEC.encode(message)) == message


def test_one_codec_serves_many_threads() -> None:
    messages = [
        Batch(points=(Point(x=i, y=-i),), by_id={i: Ping(seq=i)}, event=None, pair=(i, ("t", b"b")))
        for i in range(500)
    ]
    failures: list[object] = []

    def work() -> None:
        failures.extend(m for m in messages if CODEC.decode(CODEC.encode(m)) != m)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_fields_with_init_false_are_not_sent() -> None:
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Derived:
        value: int
        double: int = dataclasses.field(init=False)

        def __post_init__(self) -> None:
            object.__setattr__(self, "double", 2 * self.value)

    codec = Codec({"test.derived": Derived})
    decoded = codec.decode(codec.encode(Derived(value=21)))
    assert decoded == Derived(value=21)
    assert isinstance(decoded, Derived)
    assert decoded.double == 42


def test_decoding_runs_an_init_written_by_hand() -> None:
    # Frozen, slotted dataclasses are rebuilt by setting their slots; any other `__init__`
    # must still run.
    @dataclass(frozen=True, slots=True)
    class Rounded:
        value: float

        def __init__(self, value: float) -> None:
            object.__setattr__(self, "value", round(value))

    @dataclass(slots=True)
    class Mutable:
        value: int

    @dataclass(frozen=True)
    class Unslotted:
        value: int

    codec = Codec({"test.rounded": Rounded, "test.mutable": Mutable, "test.unslotted": Unslotted})
    sent = msgpack.packb(msgpack.ExtType(1, msgpack.packb(["test.rounded", 2.6])))
    assert codec.decode(sent) == Rounded(3)  # 2.6 on the wire: only its own `__init__` rounds it
    assert codec.decode(codec.encode(Mutable(value=1))) == Mutable(value=1)
    assert codec.decode(codec.encode(Unslotted(value=2))) == Unslotted(value=2)


@pytest.mark.parametrize(
    ("types", "error", "match"),
    [
        pytest.param({"": Ping}, ValueError, "non-empty str", id="empty-tag"),
        pytest.param({"a": int}, TypeError, "not a dataclass", id="not-a-dataclass"),
        pytest.param({"a": Ping(seq=1)}, TypeError, "not a dataclass type", id="an-instance"),
        pytest.param({"a": Ping, "b": Ping}, TypeError, "registered twice", id="twice"),
    ],
)
def test_bad_registrations_are_refused(
    types: dict[str, type], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Codec(types)
