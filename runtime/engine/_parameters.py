"""Binding a call's arguments to a flow's parameters, validated with pydantic from the type hints.

Runs before any run exists: bad parameters raise `ParameterValidationError` naming each one.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Final, cast

import pydantic

from .._errors import ParameterValidationError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


# pydantic looks for its plugins (file system calls) when it builds its first validator: do
# it now, at import, rather than inside the event loop on a flow's first call.
pydantic.TypeAdapter(int)


@functools.cache
def _signature(fn: Callable[..., object]) -> inspect.Signature:
    return inspect.signature(fn)


@functools.cache
def _plain_parameters(
    fn: Callable[..., object],
) -> tuple[tuple[str, ...], dict[str, object]] | None:
    """Names and defaults of a signature made only of positional-or-keyword parameters."""
    names: list[str] = []
    defaults: dict[str, object] = {}
    for name, parameter in _signature(fn).parameters.items():
        if parameter.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
            return None
        names.append(name)
        if parameter.default is not inspect.Parameter.empty:
            defaults[name] = parameter.default
    return tuple(names), defaults


def call_arguments(
    fn: Callable[..., object], parameters: Mapping[str, object]
) -> tuple[list[object], dict[str, object]]:
    """Positional and keyword arguments that call `fn` with `parameters` (as bound)."""
    if _plain_parameters(fn) is not None:  # the common case: every value, in order
        return list(parameters.values()), {}
    args: list[object] = []
    kwargs: dict[str, object] = {}
    for name, parameter in _signature(fn).parameters.items():
        if name not in parameters:
            continue
        value = parameters[name]
        kind = parameter.kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            args.extend(cast("tuple[object, ...]", value))  # bound *args
        elif kind is inspect.Parameter.VAR_KEYWORD:
            kwargs.update(cast("dict[str, object]", value))  # bound **kwargs
        elif kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs[name] = value
        else:
            args.append(value)
    return args, kwargs


def _quick_bind(
    fn: Callable[..., object], args: tuple[object, ...], kwargs: Mapping[str, object]
) -> dict[str, object] | None:
    """`signature.bind` for the common, plain case, several times quicker; None otherwise."""
    plain = _plain_parameters(fn)
    if plain is None:
        return None
    names, defaults = plain
    if len(args) > len(names):
        return None
    parameters = dict(zip(names, args, strict=False))
    for name, value in kwargs.items():
        if name in parameters or name not in names:
            return None  # let `bind` say what is wrong
        parameters[name] = value
    if kwargs or len(parameters) < len(names):
        for name in names[len(args) :]:
            if name not in parameters:
                if name not in defaults:
                    return None
                parameters[name] = defaults[name]
        parameters = {name: parameters[name] for name in names}  # in signature order
    return parameters


@functools.cache
def _adapters(fn: Callable[..., object]) -> dict[str, pydantic.TypeAdapter[object]]:
    """One validator per annotated parameter, built once per function."""
    hints = _hints(fn)
    config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    return {
        name: pydantic.TypeAdapter(hint, config=config)  # type: ignore[arg-type]  # any hint
        for name, hint in hints.items()
    }


def _hints(fn: Callable[..., object]) -> dict[str, object]:
    try:
        hints = inspect.get_annotations(fn, eval_str=True)
    except Exception:  # an unresolvable hint: validate nothing rather than fail every call
        return {}
    hints.pop("return", None)
    return hints


def bind_parameters(
    flow_name: str,
    fn: Callable[..., object],
    args: tuple[object, ...],
    kwargs: Mapping[str, object],
    *,
    validate: bool,
) -> dict[str, object]:
    """The call's arguments by parameter name, defaults applied, validated if asked.

    Raises:
        ParameterValidationError: arguments that do not fit the signature or the type hints.
    """
    parameters = _quick_bind(fn, args, kwargs)
    if parameters is None:
        try:
            bound = _signature(fn).bind(*args, **kwargs)
        except TypeError as exc:
            raise ParameterValidationError(flow_name, {"(call)": str(exc)}) from None
        bound.apply_defaults()
        parameters = dict(bound.arguments)
    if not validate:
        return parameters
    signature = _signature(fn)
    errors: dict[str, str] = {}
    adapters = _adapters(fn)
    for name, value in parameters.items():
        adapter = adapters.get(name)
        if adapter is None or signature.parameters[name].kind in {
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        }:
            continue
        try:
            parameters[name] = adapter.validate_python(value)
        except pydantic.ValidationError as exc:
            errors[name] = "; ".join(error["msg"] for error in exc.errors())
    if errors:
        raise ParameterValidationError(flow_name, errors)
    return parameters


def summarize(parameters: Mapping[str, object]) -> dict[str, object]:
    """Parameters as stored: JSON values as they are, anything else as its (short) repr."""
    return {name: _jsonable(value) for name, value in parameters.items()}


# Checked by exact type first: most parameters are plain scalars, and `isinstance` is slower.
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def _jsonable(value: object, depth: int = 0) -> object:
    if type(value) in _SCALARS or isinstance(value, bool | int | float | str):
        return value
    if depth < 8 and isinstance(value, list | tuple):
        return [_jsonable(item, depth + 1) for item in value]
    if depth < 8 and isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _jsonable(v, depth + 1) for k, v in value.items()}
    text = repr(value)
    return {"__repr__": text if len(text) <= 200 else text[:197] + "..."}
