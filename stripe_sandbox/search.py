"""Stripe's search query language, for the fields the sandbox indexes.

`metadata['job_id']:'42' AND status:'open'`, `email~'example'`, `created>1700000000`,
`-status:'void'`. Clauses join with AND or with OR, never both, as in Stripe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from stripe_sandbox.errors import invalid_request

SEARCH_FIELDS = {
    "customers": {"created", "email", "metadata", "name", "phone"},
    "invoices": {"created", "currency", "customer", "metadata", "number", "status", "total"},
}
_NUMERIC = {"created", "total"}

_CLAUSE = re.compile(
    r"""\s*(?P<negate>-)?
        (?P<field>[a-z_]+)(?:\[(?P<q1>['"])(?P<key>[^'"]+)(?P=q1)\])?
        \s*(?P<op>>=|<=|:|~|>|<)\s*
        (?:(?P<q2>['"])(?P<text>(?:\\.|(?!(?P=q2)).)*)(?P=q2)|(?P<number>-?\d+))\s*""",
    re.VERBOSE,
)
_JOINER = re.compile(r"\s*(AND|OR)\s+")  # upper case only, as Stripe requires


@dataclass(frozen=True)
class Clause:
    field: str
    key: str | None
    op: str
    value: str | int
    negate: bool

    def test(self, obj: dict[str, Any]) -> bool:
        if self.field == "metadata":
            actual: Any = obj.get("metadata", {}).get(self.key or "")
        else:
            actual = obj.get(self.field)
        return self._compare(actual) != self.negate

    def _compare(self, actual: Any) -> bool:
        if actual is None:
            return False
        if self.op == ":":
            if isinstance(self.value, int):
                return bool(actual == self.value)
            return str(actual).lower() == self.value.lower()
        if self.op == "~":
            return str(self.value).lower() in str(actual).lower()
        number, bound = int(actual), int(self.value)
        return {
            ">": number > bound,
            ">=": number >= bound,
            "<": number < bound,
            "<=": number <= bound,
        }[self.op]


@dataclass(frozen=True)
class Query:
    clauses: tuple[Clause, ...]
    any_of: bool  # OR between clauses; otherwise AND

    def __call__(self, obj: dict[str, Any]) -> bool:
        if self.any_of:
            return any(clause.test(obj) for clause in self.clauses)
        return all(clause.test(obj) for clause in self.clauses)

    def metadata_equality(self) -> tuple[str, str] | None:
        """A `metadata['k']:'v'` clause every match must satisfy, to look up in an index."""
        if self.any_of and len(self.clauses) > 1:
            return None
        for clause in self.clauses:
            if clause.field == "metadata" and clause.op == ":" and not clause.negate:
                return clause.key or "", str(clause.value)
        return None


def parse(query: str, resource: str) -> Query:
    """Compile a query, or raise Stripe's invalid_request_error."""
    clauses: list[Clause] = []
    joiners: set[str] = set()
    position = 0
    while True:
        match = _CLAUSE.match(query, position)
        if match is None:
            raise invalid_request(
                f"We were unable to parse your search query. Try using the format "
                f'`metadata["key"]:"value"` to query for metadata or '
                f'`key:"value"` to query for other fields. Near: {query[position:]!r}',
                param="query",
            )
        clauses.append(_clause(match, resource))
        position = match.end()
        if position == len(query):
            break
        joiner = _JOINER.match(query, position)
        if joiner is None:
            raise invalid_request(
                f"Expected AND or OR in your search query near {query[position:]!r}.",
                param="query",
            )
        joiners.add(joiner.group(1))
        position = joiner.end()
    if len(joiners) > 1:
        raise invalid_request(
            "Search queries cannot mix AND and OR; use one of them throughout.", param="query"
        )
    return Query(tuple(clauses), any_of=joiners == {"OR"})


def _clause(match: re.Match[str], resource: str) -> Clause:
    field = match.group("field")
    if field not in SEARCH_FIELDS[resource]:
        raise invalid_request(
            f"Field `{field}` is an unsupported search field for resource `{resource}`.",
            param="query",
        )
    if (field == "metadata") != (match.group("key") is not None):
        raise invalid_request("Metadata is searched as metadata['key']:'value'.", param="query")
    op = match.group("op")
    raw_number = match.group("number")
    value: str | int
    if raw_number is not None:
        value = int(raw_number)
    else:
        value = re.sub(r"\\(.)", r"\1", match.group("text") or "")
    if op in (">", ">=", "<", "<=") and field not in _NUMERIC:
        raise invalid_request(f"Field `{field}` does not support `{op}`.", param="query")
    if op in (">", ">=", "<", "<=") and not isinstance(value, int):
        raise invalid_request(f"Field `{field}` needs a number after `{op}`.", param="query")
    if field in _NUMERIC and not isinstance(value, int):
        raise invalid_request(f"Field `{field}` takes a number, not {value!r}.", param="query")
    if op == "~" and len(str(value)) < 3:
        raise invalid_request("Substring search (~) needs at least 3 characters.", param="query")
    return Clause(field, match.group("key"), op, value, bool(match.group("negate")))
