"""Cache keys: what each policy contributes, how policies compose, and stable input hashes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import TYPE_CHECKING

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from repertory.runtime import (
    FLOW_PARAMETERS,
    INPUTS,
    NO_CACHE,
    RUN_ID,
    TASK_SOURCE,
    CacheKeyContext,
    CachePolicy,
    UnhashableInputError,
)
from repertory.runtime.lowlevel import KeyFunction

if TYPE_CHECKING:
    from collections.abc import Mapping


def first(x: int) -> int:
    return x


def second(x: int) -> int:
    return x + 1


def context(**changes: object) -> CacheKeyContext:
    values: dict[str, object] = {
        "task_name": "t",
        "task_version": None,
        "fn": first,
        "inputs": {"x": 1},
        "flow_parameters": {"p": 1},
        "flow_run_id": "run-1",
    }
    values.update(changes)
    return CacheKeyContext(**values)  # type: ignore[arg-type]


def key(policy: CachePolicy, **changes: object) -> str | None:
    return policy.cache_key(context(**changes))


def test_the_key_covers_the_task_name_and_version() -> None:
    assert key(INPUTS) == key(INPUTS)
    assert key(INPUTS) != key(INPUTS, task_name="other")
    assert key(INPUTS) != key(INPUTS, task_version="2")
    assert len(key(INPUTS) or "") == 64


def test_each_policy_keys_on_its_own_part_only() -> None:
    assert key(INPUTS) != key(INPUTS, inputs={"x": 2})
    assert key(INPUTS) == key(INPUTS, flow_run_id="run-2", flow_parameters={"p": 2})
    assert key(TASK_SOURCE) != key(TASK_SOURCE, fn=second)
    assert key(TASK_SOURCE) == key(TASK_SOURCE, inputs={"x": 2})
    assert key(FLOW_PARAMETERS) != key(FLOW_PARAMETERS, flow_parameters={"p": 2})
    assert key(RUN_ID) != key(RUN_ID, flow_run_id="run-2")
    assert key(NO_CACHE) is None
    # Parts are tagged: the same values under two policies make two keys.
    assert key(INPUTS, inputs={"p": 1}) != key(FLOW_PARAMETERS)


def test_policies_compose_and_leave_inputs_out() -> None:
    both = INPUTS + RUN_ID
    assert key(both) != key(INPUTS)
    assert key(both) != key(both, flow_run_id="run-2")
    assert key(both) != key(both, inputs={"x": 2})
    assert INPUTS + NO_CACHE == INPUTS  # NO_CACHE adds nothing
    assert NO_CACHE + NO_CACHE is NO_CACHE
    assert INPUTS + INPUTS == INPUTS
    without = INPUTS - "noise"
    assert key(without, inputs={"x": 1, "noise": 1}) == key(without, inputs={"x": 1, "noise": 2})
    assert key(INPUTS, inputs={"x": 1, "noise": 1}) != key(INPUTS, inputs={"x": 1, "noise": 2})
    compound = (INPUTS + RUN_ID) - "noise"
    assert key(compound, inputs={"x": 1, "noise": 1}) == key(compound, inputs={"x": 1, "noise": 2})
    assert repr(compound) == "INPUTS - 'noise' + RUN_ID"
    with pytest.raises(TypeError, match="no inputs"):
        RUN_ID - "x"


def test_a_key_function_gives_the_key_or_declines() -> None:
    def by_x(context: CacheKeyContext, parameters: Mapping[str, object]) -> str | None:
        return None if parameters["x"] == 0 else f"x={parameters['x']}"

    policy = KeyFunction(by_x)
    assert key(policy) == key(policy, flow_run_id="other")
    assert key(policy) != key(policy, inputs={"x": 2})
    assert key(policy, inputs={"x": 0}) is None
    assert key(policy + RUN_ID, inputs={"x": 0}) is not None  # RUN_ID still keys it
    with pytest.raises(TypeError, match="str or None"):
        key(KeyFunction(lambda context, parameters: 3))  # type: ignore[arg-type, return-value]


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Model(pydantic.BaseModel):
    name: str
    tags: list[str]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),  # dict order does not matter
        ({1, 2, 3}, {3, 2, 1}),
        (Point(1, 2), Point(1, 2)),
        (Model(name="n", tags=["a"]), Model(name="n", tags=["a"])),
        (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),
        (uuid.UUID(int=5), uuid.UUID(int=5)),
    ],
)
def test_equal_values_hash_equal(a: object, b: object) -> None:
    assert key(INPUTS, inputs={"x": a}) == key(INPUTS, inputs={"x": b})


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([1, 2], (1, 2)),  # a list is not a tuple
        (1, True),
        (1, 1.0),
        ("1", b"1"),
        (str(uuid.UUID(int=5)), uuid.UUID(int=5)),
        (Point(1, 2), Point(2, 1)),
        ({"a": [1]}, {"a": [2]}),
    ],
)
def test_different_values_hash_apart(a: object, b: object) -> None:
    assert key(INPUTS, inputs={"x": a}) != key(INPUTS, inputs={"x": b})


def test_a_value_without_a_stable_hash_is_an_error_naming_its_parameter() -> None:
    with pytest.raises(UnhashableInputError, match="parameter 'handle'") as caught:
        key(INPUTS, inputs={"x": 1, "handle": object()})
    assert (caught.value.task_name, caught.value.parameter) == ("t", "handle")
    with pytest.raises(UnhashableInputError, match="parameter 'nested'"):
        key(INPUTS, inputs={"nested": {"deep": [object()]}})
    # Left out of the key, it no longer matters.
    assert key(INPUTS - "handle", inputs={"x": 1, "handle": object()}) == key(INPUTS)


plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(plain)
def test_the_key_of_plain_data_is_the_key_of_a_copy(value: object) -> None:
    import copy

    assert key(INPUTS, inputs={"x": value}) == key(INPUTS, inputs={"x": copy.deepcopy(value)})
