"""Checks Pulumi resource inputs against the provider SDKs' own input types.

The source of truth is the pinned provider package itself: for a resource ``cloudflare:index/
workersScript:WorkersScript`` the ``pulumi_cloudflare.WorkersScriptArgs`` class (its ``__init__``
says which arguments exist, which are required and their types), and for every nested object the
``*Args`` class of ``_inputs.py`` together with its ``*ArgsDict`` TypedDict (the two must agree on
the keys and which are required, or the check itself is stale). Names are compared in the wire
form the engine sends (``accountId``), as the mocks receive them.

Generic on purpose: any resource of a checked provider is checked, whatever the program adds
later (a Durable Object binding, a new resource), with no list to keep up to date.

:func:`check_resource` returns the violations (unknown or misspelt key, missing required key,
wrong type), each naming the path inside the inputs; an empty list means the inputs fit.
"""

from __future__ import annotations

import collections.abc
import difflib
import enum
import importlib
import inspect
import typing
from functools import cache
from typing import Any

from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key

# Resource type prefix -> the Python package of the provider's SDK.
PROVIDERS = {"cloudflare": "pulumi_cloudflare", "tls": "pulumi_tls"}


def is_checked(typ: str) -> bool:
    return typ.split(":", 1)[0] in PROVIDERS


def args_class(typ: str) -> type:
    """``cloudflare:index/workersScript:WorkersScript`` -> ``pulumi_cloudflare.WorkersScriptArgs``."""
    provider, _, rest = typ.partition(":")
    module = importlib.import_module(PROVIDERS[provider])
    name = rest.rsplit(":", 1)[-1] + "Args"
    cls = getattr(module, name, None)
    if cls is None:
        raise LookupError(f"{PROVIDERS[provider]} has no {name} for resource type {typ}")
    return cls


def check_resource(typ: str, inputs: dict[str, Any]) -> list[str]:
    """Violations of ``inputs`` (wire names, as the mocks see them) against ``typ``'s Args."""
    try:
        cls = args_class(typ)
    except LookupError as err:
        return [str(err)]
    errors: list[str] = []
    _check_object(inputs, cls, typ, errors)
    return errors


@cache
def fields(cls: type) -> dict[str, tuple[str, Any, bool]]:
    """wire name -> (python name, annotation, required) for an Args class."""
    import pulumi
    from pulumi._types import input_type_py_to_pulumi_names

    # pulumi.Input[T] is Union[T, Awaitable[T], "Output[T]"]: the forward reference needs these.
    hints = typing.get_type_hints(
        cls.__init__, localns={"Output": pulumi.Output, "T": typing.TypeVar("T")}
    )
    parameters = inspect.signature(cls.__init__).parameters
    wire = input_type_py_to_pulumi_names(cls)
    result = {}
    for name, parameter in parameters.items():
        if name in ("__self__", "self") or parameter.kind is not parameter.KEYWORD_ONLY:
            continue
        required = parameter.default is inspect.Parameter.empty
        result[wire.get(name, name)] = (name, hints[name], required)
    _agrees_with_typed_dict(cls, result)
    return result


def _agrees_with_typed_dict(cls: type, found: dict[str, tuple[str, Any, bool]]) -> None:
    """The ``*ArgsDict`` TypedDict next to a nested ``*Args`` class must say the same."""
    module = importlib.import_module(cls.__module__)
    typed = getattr(module, cls.__name__ + "Dict", None)
    if typed is None or not hasattr(typed, "__required_keys__"):
        return  # resource Args classes have none
    names = {python for python, _, _ in found.values()}
    required = {python for python, _, needed in found.values() if needed}
    keys = set(typed.__required_keys__) | set(typed.__optional_keys__)
    if keys != names or set(typed.__required_keys__) != required:
        raise AssertionError(
            f"{cls.__name__} and {typed.__name__} disagree (keys {sorted(keys ^ names)}, "
            f"required {sorted(set(typed.__required_keys__) ^ required)}): the check is stale"
        )


def _check_object(value: Any, cls: type, path: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        errors.append(f"{path}: expected an object ({cls.__name__}), got {_shown(value)}")
        return
    known = fields(cls)
    for key in value:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            errors.append(f"{path}.{key}: not an input of {cls.__name__}{hint}")
    for key, (_, annotation, required) in known.items():
        if key in value and value[key] is not None:
            _check(value[key], annotation, f"{path}.{key}", errors)
        elif required:
            errors.append(f"{path}.{key}: required by {cls.__name__} but missing")


def _check(value: Any, annotation: Any, path: str, errors: list[str]) -> None:
    from pulumi._types import is_input_type

    if _is_secret(value):
        value = value["value"]
    if annotation is Any:
        return
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        members = [a for a in typing.get_args(annotation) if not _is_deferred(a)]
        if value is None and type(None) in members:
            return
        members = [a for a in members if a is not type(None)]
        attempts = []
        for member in members:
            found: list[str] = []
            _check(value, member, path, found)
            if not found:
                return
            attempts.append(found)
        errors.extend(
            min(attempts, key=len) if len(attempts) == 1 else [_union_error(path, members, value)]
        )
        return
    if origin in (collections.abc.Sequence, list):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {_shown(value)}")
            return
        (item,) = typing.get_args(annotation) or (Any,)
        for i, element in enumerate(value):
            _check(element, item, f"{path}[{i}]", errors)
        return
    if origin in (collections.abc.Mapping, dict):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map, got {_shown(value)}")
            return
        _, item = typing.get_args(annotation) or (str, Any)
        for key, element in value.items():
            _check(element, item, f"{path}[{key!r}]", errors)
        return
    if isinstance(annotation, type) and is_input_type(annotation):
        _check_object(value, annotation, path, errors)
        return
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        if value not in {m.value for m in annotation}:
            errors.append(f"{path}: {_shown(value)} is not one of {[m.value for m in annotation]}")
        return
    if annotation is bool:
        ok = isinstance(value, bool)
    elif annotation is int:  # the engine sends numbers as floats
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value == int(value)
    elif annotation is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif annotation is str:
        ok = isinstance(value, str)
    else:
        errors.append(
            f"{path}: cannot check against {annotation!r} (extend tests/provider_types.py)"
        )
        return
    if not ok:
        errors.append(f"{path}: expected {annotation.__name__}, got {_shown(value)}")


def _is_deferred(annotation: Any) -> bool:
    """Awaitable[T] and Output[T]: how a value may arrive, not what it is."""
    import pulumi

    origin = typing.get_origin(annotation) or annotation
    return origin is collections.abc.Awaitable or origin is pulumi.Output


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_special_sig_key) == _special_secret_sig


def _union_error(path: str, members: list[Any], value: Any) -> str:
    names = ", ".join(getattr(m, "__name__", None) or repr(m) for m in members)
    return f"{path}: {_shown(value)} fits none of {names}"


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}"
