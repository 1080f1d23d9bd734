"""Stripe's form encoding (`metadata[job_id]=1`, `expand[]=x`, `expand[0]=x`) and parameter checks.

Each endpoint declares the parameters it accepts as a spec; anything else is refused with
Stripe's "Received unknown parameter" error, so a caller cannot rely on a parameter the
sandbox would silently ignore.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from stripe_sandbox.errors import invalid_request, missing_param, unknown_param

_KEY_PART = re.compile(r"\[([^\]]*)\]")


def decode_form(raw: str) -> dict[str, Any]:
    """Decode a query string or form body with bracket notation into nested dicts.

    Lists arrive as dicts keyed by index (`"0"`, `"1"`, ...); `[]` takes the next index.
    The spec turns them into lists, so a metadata key that looks like a number stays a key.
    """
    result: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head] + (_KEY_PART.findall("[" + rest) if rest else [])
        node = result
        for position, part in enumerate(parts):
            name = part if part != "" else str(len(node))
            if position == len(parts) - 1:
                node[name] = value
            else:
                child = node.get(name)
                if not isinstance(child, dict):
                    child = {}
                    node[name] = child
                node = child
    return result


Checker = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Param:
    """One accepted parameter: how to check it, and whether it must be given."""

    check: Checker
    required: bool = False


@dataclass(frozen=True)
class Spec:
    """The parameters one endpoint accepts, plus `expand` wherever an object comes back."""

    params: Mapping[str, Param] = field(default_factory=dict)
    expandable: bool = True

    def validate(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        for name in raw:
            if name not in self.params and not (name == "expand" and self.expandable):
                raise unknown_param(name)
        checked: dict[str, Any] = {}
        for name, param in self.params.items():
            value = raw.get(name)
            if value is None or value == "":
                if param.required:
                    raise missing_param(name)
                if name in raw:
                    checked[name] = None  # an empty string unsets, as in Stripe
                continue
            checked[name] = param.check(name, value)
        checked["expand"] = as_list(string)("expand", raw["expand"]) if "expand" in raw else []
        return checked


def string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise invalid_request(f"Invalid string: {_shown(value)}", param=name)
    if len(value) > 5000:
        raise invalid_request(f"{name} must be at most 5000 characters.", param=name)
    return value


def text(limit: int) -> Checker:
    """A string of at most `limit` characters, refused past it with Stripe's words."""

    def check(name: str, value: Any) -> str:
        checked = string(name, value)
        if len(checked) > limit:
            raise invalid_request(
                f"Invalid string: {checked[:20]}...; must be at most {limit} characters",
                param=name,
            )
        return checked

    return check


def custom_fields(name: str, value: Any) -> list[dict[str, str]]:
    """An invoice's custom fields: up to 4 of `{name, value}`, names up to 30 characters
    (what Stripe answers) and values up to 140. (An empty string clears them, as any
    parameter's, before this check.)"""
    fields = as_list(lambda item_name, item: item)(name, value)
    if len(fields) > 4:
        raise invalid_request(f"Invalid array: {name} must have at most 4 items.", param=name)
    checked: list[dict[str, str]] = []
    for index, field_value in enumerate(fields):
        where = f"{name}[{index}]"
        if not isinstance(field_value, dict):
            raise invalid_request(f"Invalid object: {where} must be a hash.", param=where)
        for key in field_value:
            if key not in ("name", "value"):
                raise unknown_param(f"{where}[{key}]")
        for key in ("name", "value"):
            if not field_value.get(key):
                raise missing_param(f"{where}[{key}]")
        checked.append(
            {
                "name": text(30)(f"{where}[name]", field_value["name"]),
                "value": text(140)(f"{where}[value]", field_value["value"]),
            }
        )
    return checked


def integer(minimum: int | None = None, maximum: int | None = None) -> Checker:
    def check(name: str, value: Any) -> int:
        if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
            raise invalid_request(f"Invalid integer: {_shown(value)}", param=name)
        number = int(value)
        if minimum is not None and number < minimum:
            raise invalid_request(
                f"This value must be greater than or equal to {minimum}.", param=name
            )
        if maximum is not None and number > maximum:
            raise invalid_request(
                f"This value must be less than or equal to {maximum}.", param=name
            )
        return number

    return check


def boolean(name: str, value: Any) -> bool:
    if value in ("true", "false"):
        return bool(value == "true")
    raise invalid_request(f"Invalid boolean: {_shown(value)}", param=name)


def one_of(*choices: str) -> Checker:
    def check(name: str, value: Any) -> str:
        if value not in choices:
            raise invalid_request(
                f"Invalid {name}: must be one of {', '.join(choices)}", param=name
            )
        return str(value)

    return check


def as_list(item: Checker) -> Checker:
    def check(name: str, value: Any) -> list[Any]:
        if isinstance(value, str):
            raise invalid_request(f"Invalid array: {name} must be an array.", param=name)
        if not isinstance(value, dict) or not all(k.isdigit() for k in value):
            raise invalid_request(f"Invalid array: {name} must be an array.", param=name)
        return [item(f"{name}[{k}]", value[k]) for k in sorted(value, key=int)]

    return check


def metadata(name: str, value: Any) -> dict[str, str | None]:
    """Stripe's metadata limits: 50 keys, keys up to 40 characters, values up to 500."""
    if not isinstance(value, dict):
        raise invalid_request(
            "Invalid object: metadata must be a hash of string keys to string values.", param=name
        )
    if len(value) > 50:
        raise invalid_request("Metadata can have at most 50 keys.", param=name)
    checked: dict[str, str | None] = {}
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid_request("Metadata values must be strings.", param=f"{name}[{key}]")
        if len(key) > 40:
            raise invalid_request(
                "Metadata keys can be at most 40 characters long.", param=f"{name}[{key}]"
            )
        if len(item) > 500:
            raise invalid_request(
                "Metadata values can be at most 500 characters long.", param=f"{name}[{key}]"
            )
        checked[key] = item if item != "" else None  # an empty value deletes the key
    return checked


_RANGE_KEYS = ("gt", "gte", "lt", "lte")


def timestamp_range(name: str, value: Any) -> dict[str, int]:
    """`created=123` or `created[gte]=...&created[lt]=...`."""
    if isinstance(value, str):
        exact = integer(0)(name, value)
        return {"gte": exact, "lte": exact}
    if not isinstance(value, dict):
        raise invalid_request(f"Invalid timestamp range: {name}", param=name)
    checked: dict[str, int] = {}
    for key, item in value.items():
        if key not in _RANGE_KEYS:
            raise unknown_param(f"{name}[{key}]")
        checked[key] = integer(0)(f"{name}[{key}]", item)
    return checked


def in_range(number: int, bounds: Mapping[str, int]) -> bool:
    return (
        ("gt" not in bounds or number > bounds["gt"])
        and ("gte" not in bounds or number >= bounds["gte"])
        and ("lt" not in bounds or number < bounds["lt"])
        and ("lte" not in bounds or number <= bounds["lte"])
    )


LIST_PARAMS: dict[str, Param] = {
    "limit": Param(integer(1, 100)),
    "starting_after": Param(string),
    "ending_before": Param(string),
}

SEARCH_PARAMS: dict[str, Param] = {
    "query": Param(string, required=True),
    "limit": Param(integer(1, 100)),
    "page": Param(string),
}


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else "an object"
