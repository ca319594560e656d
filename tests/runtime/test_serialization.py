"""Stored results: msgpack for plain data (tuples, sets and times come back as themselves),
pickle only when allowed, and clear errors for what cannot be stored or read."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from repertory.runtime import UnserializableResultError
from repertory.runtime._serialization import dumps, loads

leaves = (
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
    | st.datetimes(timezones=st.just(dt.UTC) | st.none())
    | st.dates()
    | st.timedeltas()
    | st.uuids()
    | st.decimals(allow_nan=False, allow_infinity=False)
)
values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children)
        | st.tuples(children, children)
        | st.dictionaries(st.text(), children)
        | st.frozensets(st.integers())
    ),
    max_leaves=25,
)


@given(values)
def test_plain_data_comes_back_as_it_was(value: object) -> None:
    back = loads(dumps(value))
    assert back == value
    assert type(back) is type(value)


def test_a_set_and_a_tuple_keep_their_types() -> None:
    value = {"s": {1, 2}, "t": (1, [2, (3,)]), "d": decimal.Decimal("1.5"), "u": uuid.UUID(int=1)}
    assert loads(dumps(value)) == value


class Custom:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Custom)

    __hash__ = object.__hash__


def test_other_objects_need_pickle() -> None:
    with pytest.raises(UnserializableResultError, match='result_serializer="pickle"'):
        dumps(Custom())
    assert loads(dumps(Custom(), "pickle")) == Custom()
    assert dumps([1], "pickle")[:1] == b"m"  # plain data stays msgpack even then
    with pytest.raises(UnserializableResultError, match="cannot be pickled"):
        dumps(lambda: None, "pickle")


@pytest.mark.parametrize("data", [b"", b"x", b"m\xc1", b"p not a pickle"])
def test_damaged_bytes_are_a_clear_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="cannot be read"):
        loads(data)
