"""How a cached result becomes bytes and back: msgpack for plain data, pickle only when the
task allows it (`result_serializer="pickle"`), since unpickling runs code.

The first byte says which: `m` msgpack, `p` pickle. Tuples, sets, datetimes and the like
come back as what they were (msgpack ext types), not as lists or strings.
"""

from __future__ import annotations

import datetime as dt
import decimal
import pickle
import uuid
from typing import Final, Literal

import msgpack

from ._errors import UnserializableResultError

Serializer = Literal["msgpack", "pickle"]
SERIALIZERS: Final = ("msgpack", "pickle")

_MSGPACK: Final = b"m"
_PICKLE: Final = b"p"
_TUPLE, _SET, _FROZENSET, _DATETIME, _DATE, _TIME, _TIMEDELTA, _DECIMAL, _UUID, _BIGINT = range(
    1, 11
)


def dumps(value: object, serializer: Serializer = "msgpack") -> bytes:
    """The stored form of `value`.

    Raises:
        UnserializableResultError: neither plain data nor (where allowed) picklable.
    """
    try:
        return _MSGPACK + msgpack.packb(
            value, default=_encode, use_bin_type=True, strict_types=True
        )
    except (TypeError, ValueError, OverflowError) as exc:
        if serializer != "pickle":
            raise UnserializableResultError(
                f"a {type(value).__qualname__} is not plain data for msgpack ({exc}); "
                'result_serializer="pickle" allows pickle'
            ) from None
    try:
        return _PICKLE + pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise UnserializableResultError(
            f"a {type(value).__qualname__} cannot be pickled: {exc}"
        ) from None


def loads(data: bytes) -> object:
    """The value stored as `data`.

    Raises:
        ValueError: `data` is not something `dumps` made (a damaged file, say).
    """
    kind, body = data[:1], data[1:]
    try:
        if kind == _MSGPACK:
            return msgpack.unpackb(body, ext_hook=_decode, raw=False, strict_map_key=False)
        if kind == _PICKLE:
            return pickle.loads(body)  # written by dumps, for a task that allowed pickle
    except Exception as exc:
        raise ValueError(f"a stored result cannot be read: {type(exc).__name__}: {exc}") from exc
    raise ValueError("a stored result cannot be read: unknown format")


def _packed(value: object) -> bytes:
    return msgpack.packb(value, default=_encode, use_bin_type=True, strict_types=True)


def _encode(value: object) -> msgpack.ExtType:
    # Checked by exact type (strict_types): a subclass is not plain data, so it is pickled or
    # refused rather than coming back as its base class.
    kind = type(value)
    if kind is int:  # beyond msgpack's 64 bits
        return msgpack.ExtType(_BIGINT, str(value).encode())
    if kind is tuple:
        return msgpack.ExtType(_TUPLE, _packed(list(value)))  # type: ignore[call-overload]
    if kind is set or kind is frozenset:
        code = _SET if kind is set else _FROZENSET
        return msgpack.ExtType(code, _packed(list(value)))  # type: ignore[call-overload]
    if kind is dt.datetime:
        return msgpack.ExtType(_DATETIME, value.isoformat().encode())  # type: ignore[attr-defined]
    if kind is dt.date:
        return msgpack.ExtType(_DATE, value.isoformat().encode())  # type: ignore[attr-defined]
    if kind is dt.time:
        return msgpack.ExtType(_TIME, value.isoformat().encode())  # type: ignore[attr-defined]
    if kind is dt.timedelta:
        parts = [value.days, value.seconds, value.microseconds]  # type: ignore[attr-defined]
        return msgpack.ExtType(_TIMEDELTA, _packed(parts))
    if kind is decimal.Decimal:
        return msgpack.ExtType(_DECIMAL, str(value).encode())
    if kind is uuid.UUID:
        return msgpack.ExtType(_UUID, value.bytes)  # type: ignore[attr-defined]
    raise TypeError(f"{kind.__qualname__} is not plain data")


def _decode(code: int, data: bytes) -> object:
    if code in {_TUPLE, _SET, _FROZENSET}:
        items = msgpack.unpackb(data, ext_hook=_decode, raw=False, strict_map_key=False)
        return {_TUPLE: tuple, _SET: set, _FROZENSET: frozenset}[code](items)
    if code == _DATETIME:
        return dt.datetime.fromisoformat(data.decode())
    if code == _DATE:
        return dt.date.fromisoformat(data.decode())
    if code == _TIME:
        return dt.time.fromisoformat(data.decode())
    if code == _TIMEDELTA:
        days, seconds, microseconds = msgpack.unpackb(data)
        return dt.timedelta(days=days, seconds=seconds, microseconds=microseconds)
    if code == _DECIMAL:
        return decimal.Decimal(data.decode())
    if code == _UUID:
        return uuid.UUID(bytes=data)
    if code == _BIGINT:
        return int(data.decode())
    raise ValueError(f"unknown msgpack ext type {code}")
