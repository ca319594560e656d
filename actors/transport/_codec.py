"""The msgpack wire codec: registered message dataclasses travel under stable type tags.

It knows message types and msgpack only, nothing of sockets or frames; it never pickles.
"""

from __future__ import annotations

import dataclasses
import datetime
import keyword
import reprlib
import threading
import types
from typing import TYPE_CHECKING, Any, Final, final

import msgpack

from .._errors import CodecError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

#: The msgpack ext type code of a registered message: `ExtType(1, packb([tag, *fields]))`.
MESSAGE_EXT_CODE: Final = 1

#: How deep messages may nest inside messages (each level packs with its own packer).
MAX_NESTING: Final = 100

# ExtType validates its arguments in Python on every call; ours are valid by construction, so
# build the tuple directly (this is on the hot path of every nested message).
_new_ext_type: Final = tuple.__new__

# What msgpack raises for values it cannot pack, or bytes it cannot unpack.
_PACK_ERRORS: Final = (TypeError, ValueError, OverflowError, RecursionError)
# (OverflowError: a timestamp beyond datetime's range.)
UNPACK_ERRORS: Final = (
    TypeError,
    ValueError,
    OverflowError,
    RecursionError,
    msgpack.UnpackException,
)


@final
class _MessageType:
    """How one registered type is taken apart and rebuilt (cached: this is the hot path)."""

    __slots__ = ("build", "field_count", "tag", "to_array")

    def __init__(self, tag: str, cls: type) -> None:
        names = tuple(field.name for field in dataclasses.fields(cls) if field.init)
        self.tag = tag
        self.field_count = len(names)
        self.to_array, self.build = _compile(tag, cls, names)


def _compile(
    tag: str, cls: type, names: tuple[str, ...]
) -> tuple[
    Callable[[tuple[object, ...], object], tuple[object, ...]],
    Callable[[tuple[object, ...], int], object],
]:
    """Return `to_array(head, message) -> (*head, tag, *fields)` and `build(values, start)`,
    which makes a `cls` from `values[start:]`, fields in declaration order.

    Like `dataclasses` itself, this compiles two small functions: reading `obj.a, obj.b` and
    calling `cls(a=v[s], b=v[s + 1])` directly cost half of the generic code (attrgetter and
    `cls(**dict(zip(names, values)))`). Only identifiers reach the source; `tag`, `cls` and
    the slots' setters are passed in the namespace.
    """
    if not all(name.isidentifier() and not keyword.iskeyword(name) for name in names):
        raise TypeError(f"{cls.__qualname__} has a field whose name is not an identifier")
    fields = "".join(f", obj.{name}" for name in names)
    namespace: dict[str, Any] = {"tag": tag, "cls": cls, "new": object.__new__}
    setters = _slot_setters(cls, names)
    if setters is None:
        arguments = ", ".join(f"{name}=values[start + {i}]" for i, name in enumerate(names))
        body = f"    return cls({arguments})\n"
    else:
        # The generated `__init__` of a frozen dataclass sets each field through
        # `object.__setattr__`, which costs as much as the rest of a remote tell's delivery.
        # What it would do is only that, so set the slots directly.
        namespace.update(
            (f"set_{name}", setter) for name, setter in zip(names, setters, strict=True)
        )
        sets = "".join(
            f"    set_{name}(obj, values[start + {i}])\n" for i, name in enumerate(names)
        )
        body = f"    obj = new(cls)\n{sets}    return obj\n"
    source = (
        f"def to_array(head, obj):\n    return (*head, tag{fields})\n"
        f"def build(values, start):\n{body}"
    )
    exec(source, namespace)
    return namespace["to_array"], namespace["build"]


def _slot_setters(cls: type, names: tuple[str, ...]) -> list[Callable[..., None]] | None:
    """The slots' own setters, when building `cls` means only setting its fields: a slotted
    dataclass whose fields are all `__init__` arguments, with no `__post_init__` and the
    `__init__` that `dataclasses` wrote. Otherwise None: its `__init__` must run."""
    code = getattr(getattr(cls, "__init__", None), "__code__", None)
    if (
        hasattr(cls, "__post_init__")
        or len(dataclasses.fields(cls)) != len(names)
        # The `__init__` that `dataclasses` writes for a frozen class, not one by hand.
        or "__dataclass_builtins_object__" not in getattr(code, "co_freevars", ())
    ):
        return None
    setters = []
    for name in names:
        slot = next((klass.__dict__[name] for klass in cls.__mro__ if name in klass.__dict__), None)
        if type(slot) is not types.MemberDescriptorType:
            return None
        setters.append(slot.__set__)
    return setters


def _describe_unencodable(value: object) -> str:
    if isinstance(value, datetime.datetime):
        return f"cannot encode the naive datetime {value!r}: give it a tzinfo"
    if dataclasses.is_dataclass(value):
        return (
            f"cannot encode {type(value).__qualname__}: its type is not registered with this codec"
        )
    return f"cannot encode a value of type {type(value).__qualname__}"


def _build_error(
    tag: str, values: tuple[object, ...], start: int, message_type: _MessageType | None
) -> CodecError:
    if message_type is None:
        return CodecError(f"unknown message tag {reprlib.repr(tag)}")
    return CodecError(
        f"message {tag!r} has {message_type.field_count} fields, the data has {len(values) - start}"
    )


def _check_registration(tag: object, cls: object) -> None:
    if not isinstance(tag, str) or not tag:
        raise ValueError(f"a type tag must be a non-empty str, got {tag!r}")
    if not isinstance(cls, type) or not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} (tag {tag!r}) is not a dataclass type")


@final
class _Encoder:
    """One thread's packing state.

    A nested message is packed into the ext payload of its parent while the parent is being
    packed; msgpack packers are not re-entrant (nor thread-safe), so there is one packer per
    nesting depth, per thread.
    """

    __slots__ = ("_by_type", "_depth", "_packers", "pack")

    def __init__(self, by_type: Mapping[type, _MessageType]) -> None:
        self._by_type = by_type
        self._packers = [self._new_packer()]
        self._depth = 0
        self.pack: Callable[[object], bytes] = self._new_packer().pack

    def _new_packer(self) -> msgpack.Packer:
        return msgpack.Packer(default=self._default, datetime=True)

    def _default(self, obj: object) -> object:
        message_type = self._by_type.get(type(obj))
        if message_type is None:
            raise CodecError(_describe_unencodable(obj))
        depth = self._depth
        packers = self._packers
        if depth == len(packers):
            if depth >= MAX_NESTING:
                raise CodecError(f"messages nest more than {MAX_NESTING} deep")
            packers.append(self._new_packer())
        self._depth = depth + 1
        try:
            payload = packers[depth].pack(message_type.to_array((), obj))
        finally:
            self._depth = depth
        return _new_ext_type(msgpack.ExtType, (MESSAGE_EXT_CODE, payload))


@final
class Codec:
    """Encodes messages to msgpack bytes and back, with a stable tag per message type.

    A registered type is a dataclass (frozen, slotted and keyword-only, by convention), and it
    travels as a msgpack ext value (code 1) whose payload is the array `[tag, *field values]`,
    fields in declaration order. Field values may be None, bools, ints (64-bit), floats, str,
    bytes, tuples, lists, dicts, aware datetimes (msgpack timestamps) and registered messages.
    Arrays decode as tuples, so frozen dataclasses compare equal after a round trip; datetimes
    decode in UTC (the same instant; one within a day of `datetime.min` or `datetime.max`
    may have no UTC equivalent, and then fails to decode). Nothing is ever pickled.

    Both nodes must register the same tags for the same types; a codec is safe to share
    between threads.

    Example::

        codec = Codec({"demo.add": Add, "demo.sum": Sum})
        assert codec.decode(codec.encode(Add(a=1, b=2))) == Add(a=1, b=2)

    Args:
        types: maps each stable tag to its message type.

    Raises:
        TypeError: a type is not a dataclass, or a type is registered under two tags.
        ValueError: a tag is empty.
    """

    __slots__ = ("_by_tag", "_by_type", "_decode_frame", "_local", "types")

    def __init__(self, types: Mapping[str, type]) -> None:
        by_type: dict[type, _MessageType] = {}
        for tag, cls in types.items():
            _check_registration(tag, cls)
            if cls in by_type:
                raise TypeError(
                    f"{cls.__qualname__} is registered twice ({by_type[cls].tag!r}, {tag!r})"
                )
            by_type[cls] = _MessageType(tag, cls)
        self.types: Mapping[str, type] = dict(types)
        self._by_type = by_type
        self._by_tag = {message_type.tag: message_type for message_type in by_type.values()}
        self._local = threading.local()
        self._decode_frame = self._new_frame_decoder()  # one set of unpacking options

    def encode(self, value: object) -> bytes:
        """Encode a message, or any value built from registered messages and msgpack types.

        Raises:
            CodecError: the value holds an unregistered type or cannot be encoded (such as a
                naive datetime or an int beyond 64 bits).
        """
        try:
            return self._packer()(value)
        except CodecError:
            raise
        except _PACK_ERRORS as exc:
            raise CodecError(f"cannot encode {type(value).__qualname__}: {exc}") from exc

    def decode(self, data: bytes | bytearray | memoryview) -> object:
        """Decode bytes made by `encode` (on this node or another with the same tags).

        Raises:
            CodecError: the bytes are malformed, or name an unknown tag or ext type.
        """
        try:
            return self._decode_frame(data)
        except CodecError:
            raise
        except UNPACK_ERRORS as exc:
            raise CodecError(f"malformed msgpack data: {exc}") from exc

    # Wire frames, for the transport: `[*head, tag, *fields]` for a registered message,
    # `[*head, None, value]` for any other value. A message at the top of a frame is inlined
    # so that it is packed and unpacked once, not nested in an ext value.

    def _frame_encoder(self) -> Callable[[tuple[object, ...], object], bytes]:
        """Return `encode_frame(head, message)`, which encodes the array `head` followed by
        `message` inline, for use in the calling thread only.

        `encode_frame` raises `CodecError` as `encode` does.
        """
        pack = self._packer()
        by_type = self._by_type

        def encode_frame(head: tuple[object, ...], message: object) -> bytes:
            message_type = by_type.get(type(message))
            try:
                if message_type is None:
                    return pack((*head, None, message))
                return pack(message_type.to_array(head, message))
            except CodecError:
                raise
            except _PACK_ERRORS as exc:
                raise CodecError(f"cannot encode {type(message).__qualname__}: {exc}") from exc

        return encode_frame

    def _frame_decoder(self) -> Callable[[bytes | memoryview], object]:
        """Return `decode_frame(data)`: `decode` without its error translation, for the hot path.

        `decode_frame` raises `CodecError`, and also what msgpack raises for malformed data
        (`UNPACK_ERRORS`).
        """
        return self._decode_frame

    def _new_frame_decoder(self) -> Callable[[bytes | bytearray | memoryview], object]:
        unpackb = msgpack.unpackb
        ext_hook = self._ext_hook

        # A closure, not functools.partial: a partial with keywords costs 60% more per call.
        def decode_frame(data: bytes | bytearray | memoryview) -> object:
            return unpackb(
                data, ext_hook=ext_hook, use_list=False, timestamp=3, strict_map_key=False
            )

        return decode_frame

    def _message_at(self, frame: tuple[object, ...], start: int) -> object:
        """Rebuild the message that a frame encoder inlined at `frame[start:]`.

        Raises:
            CodecError: the frame does not hold a well-formed message there.
        """
        tag = frame[start]
        if tag is None:
            if len(frame) != start + 2:
                raise CodecError("malformed frame: one value must follow a None tag")
            return frame[start + 1]
        if type(tag) is not str:
            raise CodecError(f"malformed frame: {reprlib.repr(tag)} is not a message tag")
        return self._build(tag, frame, start + 1)

    def _message_builders(
        self,
    ) -> Mapping[str, tuple[int, Callable[[tuple[object, ...], int], object]]]:
        """Map each tag to `(field count, build(values, start))`, for a hot path to inline
        `_message_at`; `build` raises whatever the message type's constructor raises for
        invalid fields (`TypeError`, or any exception from its `__post_init__`)."""
        return {tag: (t.field_count, t.build) for tag, t in self._by_tag.items()}

    def _packer(self) -> Callable[[object], bytes]:
        try:
            pack: Callable[[object], bytes] = self._local.pack
        except AttributeError:
            pack = self._local.pack = _Encoder(self._by_type).pack
        return pack

    def _build(self, tag: str, values: tuple[object, ...], start: int) -> object:
        message_type = self._by_tag.get(tag)
        if message_type is None or len(values) - start != message_type.field_count:
            raise _build_error(tag, values, start, message_type)
        try:
            return message_type.build(values, start)
        except Exception as exc:  # the type's own validation may raise anything
            raise CodecError(f"cannot build message {tag!r} from the data: {exc!r}") from exc

    def _ext_hook(self, code: int, payload: bytes) -> object:
        if code != MESSAGE_EXT_CODE:
            raise CodecError(f"unknown msgpack ext type {code}")
        fields = self._decode_frame(payload)
        if type(fields) is not tuple or not fields or type(fields[0]) is not str:
            raise CodecError("malformed message: expected an array [tag, *fields]")
        return self._build(fields[0], fields, 1)

    def __repr__(self) -> str:
        return f"<Codec tags={sorted(self.types)!r}>"
