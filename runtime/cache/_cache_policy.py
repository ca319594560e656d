"""Cache policies: what a task's cache key is made of (`INPUTS + TASK_SOURCE`, ...).

A key is a SHA-256 over the task's name and version and over what each policy of the task
contributes, each part tagged with the policy's name, so that `INPUTS` and `FLOW_PARAMETERS`
never collide on the same values. Inputs are hashed from a canonical encoding (dict keys
sorted, each value tagged with its type), never from `repr` or `pickle`, which vary between
processes: a value that has no canonical form is an error naming its parameter, never a key
that could give a wrong hit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import hashlib
import inspect
import pathlib
import uuid
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, final

import msgpack

from .._errors import UnhashableInputError, UnhashableInputWarning

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class CacheKeyContext:
    """What a policy may build a key from: the task and the call being made."""

    task_name: str
    task_version: str | None
    fn: Callable[..., object]
    inputs: Mapping[str, object]
    flow_parameters: Mapping[str, object]
    flow_run_id: str


class CachePolicy:
    """What a cache key is made of; combine policies with `+`, leave an input out with `-`."""

    __slots__ = ()

    def parts(self, context: CacheKeyContext) -> list[tuple[str, bytes]] | None:
        """Tagged byte strings to hash into the key; None: this call is not to be cached."""
        raise NotImplementedError

    def _members(self) -> tuple[CachePolicy, ...]:
        return (self,)

    def prepare(self, fn: Callable[..., object]) -> None:
        """Do ahead (when the task is defined) what would otherwise block a first call:
        `TASK_SOURCE` reads the function's source file here."""
        for member in self._members():
            if isinstance(member, TaskSource):
                source_hash(fn)

    def __add__(self, other: CachePolicy) -> CachePolicy:
        if not isinstance(other, CachePolicy):
            return NotImplemented
        members = tuple(p for p in (*self._members(), *other._members()) if p is not NO_CACHE)
        unique = tuple(dict.fromkeys(members))
        if not unique:
            return NO_CACHE
        return unique[0] if len(unique) == 1 else CompoundPolicy(unique)

    def __sub__(self, parameter: str) -> CachePolicy:
        raise TypeError(f"{self!r} holds no inputs to leave {parameter!r} out of")

    def cache_key(self, context: CacheKeyContext) -> str | None:
        """The key for this call (a hex SHA-256), or None when it is not to be cached."""
        parts = self.parts(context)
        if parts is None:
            return None
        digest = hashlib.sha256()
        for piece in (b"task", context.task_name.encode(), b"version"):
            digest.update(len(piece).to_bytes(4, "big") + piece)
        version = (context.task_version or "").encode()
        digest.update(len(version).to_bytes(4, "big") + version)
        for tag, data in parts:
            for piece in (tag.encode(), data):
                digest.update(len(piece).to_bytes(4, "big") + piece)
        return digest.hexdigest()


@final
class CompoundPolicy(CachePolicy):
    """Several policies: the key covers what each contributes; a key function's None (or
    `NO_CACHE`) adds nothing, and if nothing is added the call is not cached."""

    __slots__ = ("policies",)

    def __init__(self, policies: tuple[CachePolicy, ...]) -> None:
        self.policies = policies

    def _members(self) -> tuple[CachePolicy, ...]:
        return self.policies

    def parts(self, context: CacheKeyContext) -> list[tuple[str, bytes]] | None:
        found: list[tuple[str, bytes]] = []
        for policy in self.policies:
            found.extend(policy.parts(context) or ())
        return found or None

    def __sub__(self, parameter: str) -> CachePolicy:
        if not any(isinstance(policy, Inputs) for policy in self.policies):
            return super().__sub__(parameter)
        return CompoundPolicy(
            tuple(p - parameter if isinstance(p, Inputs) else p for p in self.policies)
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompoundPolicy) and other.policies == self.policies

    def __hash__(self) -> int:
        return hash(self.policies)

    def __repr__(self) -> str:
        return " + ".join(map(repr, self.policies))


@final
class Inputs(CachePolicy):
    """The task's arguments, bound to its parameter names, minus those left out.

    `unhashable="error"` (the default) makes an input without a stable hash an
    `UnhashableInputError`; `"warn"` runs the task uncached with a warning instead.
    """

    __slots__ = ("exclude", "unhashable")

    def __init__(
        self,
        exclude: frozenset[str] = frozenset(),
        *,
        unhashable: Literal["error", "warn"] = "error",
    ) -> None:
        if unhashable not in {"error", "warn"}:
            raise ValueError(f"unhashable is 'error' or 'warn', not {unhashable!r}")
        self.exclude = exclude
        self.unhashable = unhashable

    def configure(self, *, unhashable: Literal["error", "warn"]) -> Inputs:
        """The same inputs, with another way to treat an input that has no stable hash."""
        return Inputs(self.exclude, unhashable=unhashable)

    def parts(self, context: CacheKeyContext) -> list[tuple[str, bytes]] | None:
        kept = {k: v for k, v in context.inputs.items() if k not in self.exclude}
        try:
            return [("inputs", stable_bytes(kept, context.task_name))]
        except UnhashableInputError as exc:
            if self.unhashable == "error":
                raise
            warnings.warn(str(exc), UnhashableInputWarning, stacklevel=2)
            return None

    def __sub__(self, parameter: str) -> CachePolicy:
        return Inputs(self.exclude | {parameter}, unhashable=self.unhashable)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Inputs)
            and other.exclude == self.exclude
            and other.unhashable == self.unhashable
        )

    def __hash__(self) -> int:
        return hash((Inputs, self.exclude, self.unhashable))

    def __repr__(self) -> str:
        return "INPUTS" + "".join(f" - {name!r}" for name in sorted(self.exclude))


@final
class TaskSource(CachePolicy):
    """The task function's source code: editing the function makes new keys."""

    __slots__ = ()

    def parts(self, context: CacheKeyContext) -> list[tuple[str, bytes]] | None:
        return [("source", source_hash(context.fn))]

    def __repr__(self) -> str:
        return "TASK_SOURCE"


@final
class FlowParameters(CachePolicy):
    """The parameters of the flow run the task runs in."""

    __slots__ = ()

    def parts(self, context: CacheKeyContext) -> list[tuple[str, bytes]] | None:
        return [("flow_parameters", stable_bytes(context.flow_parameters, context.task_name))]

    def __repr__(self) -> str:
        return "FLOW_PARAMETERS"


@final
class RunId(CachePolicy):
    """The flow run's id: results are shared only within one flow run."""

    __slots__ = ()

    def parts(self, context: CacheKeyContext) -> list[tuple[str, bytes]] | None:
        return [("run_id", context.flow_run_id.encode())]

    def __repr__(self) -> str:
        return "RUN_ID"


@final
class NoCache(CachePolicy):
    """Never cache (the default). Adding it to other policies changes nothing."""

    __slots__ = ()

    def parts(self, context: CacheKeyContext) -> list[tuple[str, bytes]] | None:
        return None

    def __repr__(self) -> str:
        return "NO_CACHE"


@final
class KeyFunction(CachePolicy):
    """A user's `cache_key_fn(context, parameters) -> str | None` (None: do not cache)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[CacheKeyContext, Mapping[str, object]], str | None]) -> None:
        self.fn = fn

    def parts(self, context: CacheKeyContext) -> list[tuple[str, bytes]] | None:
        key = self.fn(context, context.inputs)
        if key is None:
            return None
        if not isinstance(key, str):
            raise TypeError(f"cache_key_fn must return a str or None, not {type(key).__name__}")
        return [("key_fn", key.encode())]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyFunction) and other.fn == self.fn

    def __hash__(self) -> int:
        return hash((KeyFunction, self.fn))

    def __repr__(self) -> str:
        return f"cache_key_fn={getattr(self.fn, '__qualname__', self.fn)!r}"


INPUTS: Final = Inputs()
TASK_SOURCE: Final = TaskSource()
FLOW_PARAMETERS: Final = FlowParameters()
RUN_ID: Final = RunId()
NO_CACHE: Final = NoCache()


# -- stable hashes ------------------------------------------------------------------------


def source_hash(fn: Callable[..., object]) -> bytes:
    """A digest of a function's source (of its bytecode and constants when there is none),
    read once per function: reading a source file would block the event loop."""
    target = inspect.unwrap(fn)
    code = getattr(target, "__code__", None)
    known = _SOURCE_HASHES.get(code) if code is not None else None
    if known is not None:
        return known
    try:
        text = inspect.getsource(target).encode()
    except (OSError, TypeError):
        text = repr((code.co_code, code.co_consts)).encode() if code else repr(target).encode()
    digest = hashlib.sha256(text).digest()
    if code is not None:
        _SOURCE_HASHES[code] = digest
    return digest


#: Source digests by code object (which compares by content, place in its file included).
_SOURCE_HASHES: dict[object, bytes] = {}


def stable_bytes(values: Mapping[str, object], task_name: str) -> bytes:
    """A canonical encoding of named values: equal values give equal bytes in any process.

    Raises:
        UnhashableInputError: a value (or a part of it) has no canonical form.
    """
    canonical = []
    for name in sorted(values):
        try:
            canonical.append((name, _canonical(values[name])))
        except _NoCanonicalFormError as exc:
            raise UnhashableInputError(task_name, name, exc.value) from None
    return msgpack.packb(canonical, use_bin_type=True)


class _NoCanonicalFormError(Exception):
    def __init__(self, value: object) -> None:
        self.value = value


_SCALARS: Final = (str, int, float, bytes, type(None))
_AS_TEXT: Final = (
    dt.datetime,
    dt.date,
    dt.time,
    dt.timedelta,
    decimal.Decimal,
    uuid.UUID,
    pathlib.PurePath,
)


def _canonical(value: object, depth: int = 0) -> object:
    """Plain msgpack data standing for `value`, tagged with its type where types could clash
    (a tuple and a list, a str and a UUID)."""
    if depth > 100:
        raise _NoCanonicalFormError(value)
    kind = type(value)
    if kind is bool:
        return ["bool", value]
    if kind is int and not -(2**63) <= value < 2**64:  # type: ignore[operator]
        return ["bigint", str(value)]  # msgpack holds 64 bits
    if isinstance(value, _SCALARS) and not isinstance(value, enum.Enum):
        return value
    if isinstance(value, list | tuple):
        return [kind.__qualname__, [_canonical(item, depth + 1) for item in value]]
    if isinstance(value, dict):
        items = [(_canonical(k, depth + 1), _canonical(v, depth + 1)) for k, v in value.items()]
        items.sort(key=lambda item: msgpack.packb(item[0], use_bin_type=True))
        return ["dict", items]
    if isinstance(value, set | frozenset):
        members = [msgpack.packb(_canonical(item, depth + 1), use_bin_type=True) for item in value]
        return [kind.__qualname__, sorted(members)]
    if isinstance(value, enum.Enum):
        return ["enum", kind.__qualname__, _canonical(value.value, depth + 1)]
    if isinstance(value, _AS_TEXT):
        return [kind.__qualname__, str(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return ["dataclass", kind.__qualname__, _canonical(fields, depth + 1)]
    dump = getattr(value, "model_dump", None)  # a pydantic model, without importing pydantic
    if callable(dump) and not isinstance(value, type):
        return ["model", kind.__qualname__, _canonical(dump(), depth + 1)]
    raise _NoCanonicalFormError(value)
