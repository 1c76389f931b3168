"""Accelo's list grammar: `_filters`, `_fields`, `_search`, `_limit`/`_page`/`_offset` (docs/accelo-api.md,
Listing and paging; Filters).

Parsing turns the query string into predicates and a projection once per request; evaluation walks rows in id
order and stops as soon as a page is full, so keyset pages cost what they return, not the table size.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal, InvalidOperation

from .data import Row
from .errors import ApiError
from .schema import NUMERIC_KINDS, RESOURCES, Field, ResourceSpec

MAX_LIMIT = 100
DEFAULT_LIMIT = 10
TRUE_WORDS = frozenset({"1", "yes", "true"})
Comparison = Callable[[Decimal, Decimal], bool]
RANGE_SUFFIXES: dict[str, Comparison] = {  # longest first, so `_greater_than_or_equal` is not read as `_greater_than`
    "_greater_than_or_equal": lambda a, b: a >= b,
    "_less_than_or_equal": lambda a, b: a <= b,
    "_greater_than": lambda a, b: a > b,
    "_less_than": lambda a, b: a < b,
    "_after": lambda a, b: a > b,  # strict, whole seconds
    "_before": lambda a, b: a < b,
}
Predicate = Callable[[Row], bool]
# a wire value made comparable: numbers (ids, money, timestamps) as Decimal, booleans as bool, the rest as text
Value = Decimal | bool | str


@dataclass
class Call:
    """`name(arg, ...)` in a `_filters` or `_fields` string; an arg is a plain value or another call."""

    name: str
    args: list[Call | str] = field(default_factory=list)
    parens: bool = False  # `company()` expands a link; bare `company` does not


def parse_calls(text: str) -> list[Call]:
    """Parse `a(1,2),b(c(3)),d` into calls; a bare top-level name is a call without parentheses."""
    calls: list[Call] = []
    pos = 0

    def value(stop: str) -> str:
        nonlocal pos
        start = pos
        while pos < len(text) and text[pos] not in stop:
            pos += 1
        return text[start:pos].strip()

    def separator() -> None:  # blanks may follow a ')' as they may precede a name
        nonlocal pos
        while pos < len(text) and text[pos].isspace():
            pos += 1

    def item(depth: int) -> Call | str:
        nonlocal pos
        word = value("(),")
        if pos < len(text) and text[pos] == "(":
            if not word:
                raise ApiError.invalid(f"unexpected '(' at {pos} in {text!r}")
            pos += 1
            call = Call(word, [], parens=True)
            if pos < len(text) and text[pos] == ")":
                pos += 1
                return call
            while True:
                call.args.append(item(depth + 1))
                separator()
                if pos >= len(text):
                    raise ApiError.invalid(f"missing ')' in {text!r}")
                if text[pos] == ")":
                    pos += 1
                    return call
                if text[pos] != ",":
                    raise ApiError.invalid(f"unexpected {text[pos]!r} at {pos} in {text!r}")
                pos += 1
        if depth == 0:
            return Call(word, [])
        return word

    while pos < len(text):
        parsed = item(0)
        assert isinstance(parsed, Call)
        if parsed.name:
            calls.append(parsed)
        separator()
        if pos < len(text):
            if text[pos] != ",":
                raise ApiError.invalid(f"unexpected {text[pos]!r} at {pos} in {text!r}")
            pos += 1
    return calls


def typed(field_: Field, raw: object) -> Value | None:
    """A wire value as something comparable; None stays None."""
    if raw is None:
        return None
    if field_.kind in NUMERIC_KINDS:
        try:
            return Decimal(str(raw))
        except InvalidOperation:
            return None
    if field_.kind == "bool":
        return str(raw).lower() in TRUE_WORDS
    return str(raw)


def _argument(spec: ResourceSpec, field_: Field, raw: Call | str) -> Value:
    if isinstance(raw, Call):
        raise ApiError.invalid(f"filter on {spec.name}.{field_.name} does not take an object argument")
    if field_.kind in NUMERIC_KINDS:
        return _number(spec, field_, raw)
    if field_.kind == "bool":
        return raw.lower() in TRUE_WORDS
    return raw


def _number(spec: ResourceSpec, field_: Field, raw: Call | str) -> Decimal:
    """A filter argument on a numeric field (the ranges take only these)."""
    if isinstance(raw, Call):
        raise ApiError.invalid(f"filter on {spec.name}.{field_.name} does not take an object argument")
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise ApiError.invalid(f"{raw!r} is not a number for {spec.name}.{field_.name}") from None


def _field(spec: ResourceSpec, name: str, filter_name: str) -> Field:
    found = spec.by_name.get(name)
    if found is None or found.hidden:
        raise ApiError.invalid(f"unknown filter '{filter_name}' for {spec.name}")
    return found


def is_empty(field_: Field, raw: object) -> bool:
    return raw is None or raw == "" or (field_.kind in NUMERIC_KINDS and str(raw) == "0")


def compile_filter(spec: ResourceSpec, call: Call, nested: bool = False) -> Predicate:
    """One `_filters` entry as a predicate on stored rows."""
    name = call.name
    if name in {"_OR", "_AND"}:
        if nested and name == "_OR":
            raise ApiError.invalid("_OR cannot be nested")
        if nested and name == "_AND" and any(isinstance(a, Call) and a.name in {"_OR", "_AND"} for a in call.args):
            raise ApiError.invalid("a nested _AND cannot hold another _AND or _OR")
        if name == "_OR" and sum(isinstance(a, Call) and a.name == "_AND" for a in call.args) > 1:
            raise ApiError.invalid("_OR takes at most one nested _AND")
        parts = [compile_filter(spec, _as_call(arg), nested=True) for arg in call.args]
        if name == "_OR":
            return lambda row: any(p(row) for p in parts)
        return lambda row: all(p(row) for p in parts)
    if not call.args:
        raise ApiError.invalid(f"filter '{name}' needs a value in parentheses")
    if name == "empty":
        fields = [_field(spec, _as_value(arg), name) for arg in call.args]
        return lambda row: any(is_empty(f, row.get(f.name)) for f in fields)
    for suffix, compare in RANGE_SUFFIXES.items():
        if name.endswith(suffix) and name[: -len(suffix)] in spec.by_name:
            target = _field(spec, name[: -len(suffix)], name)
            if suffix in {"_after", "_before"} and target.kind != "ts":
                raise ApiError.invalid(f"'{name}': {target.name} is not a date field")
            if target.kind not in NUMERIC_KINDS:
                raise ApiError.invalid(f"'{name}': {target.name} is not numeric")
            if len(call.args) != 1:
                raise ApiError.invalid(f"'{name}' takes exactly one value")
            bound = _number(spec, target, call.args[0])
            if suffix in {"_after", "_before"} and bound != bound.to_integral_value():
                raise ApiError.invalid(f"'{name}' takes a unix timestamp in whole seconds")

            def ranged(row: Row, f: Field = target, b: Decimal = bound, c: Comparison = compare) -> bool:
                value = typed(f, row.get(f.name))  # a Decimal or None: the field is numeric
                return isinstance(value, Decimal) and c(value, b)

            return ranged
    if any(isinstance(arg, Call) for arg in call.args):  # `against(company(32))`: no `against` field needed
        negate = name.endswith("_not") and f"{name[:-4]}_id" in spec.by_name
        return _object_filter(spec, name[:-4] if negate else name, call, negate)
    negate = name.endswith("_not") and name[:-4] in spec.by_name
    target = _field(spec, name[:-4] if negate else name, name)
    wanted = {_argument(spec, target, arg) for arg in call.args}

    def basic(row: Row) -> bool:
        return (typed(target, row.get(target.name)) in wanted) != negate

    return basic


def _object_filter(spec: ResourceSpec, name: str, call: Call, negate: bool) -> Predicate:
    """`against(company(32,33))`: rows whose `against_type` is company and `against_id` one of the ids."""
    type_field, id_field = f"{name}_type", f"{name}_id"
    if type_field not in spec.by_name or id_field not in spec.by_name:
        raise ApiError.invalid(f"'{name}' is not an object filter for {spec.name} (not supported by the simulator)")
    pairs: set[tuple[str, str]] = set()
    for arg in call.args:
        obj = _as_call(arg)
        pairs.update((obj.name, _as_value(v)) for v in obj.args)
    return lambda row: ((row.get(type_field), row.get(id_field)) in pairs) != negate


def _as_call(arg: Call | str) -> Call:
    if not isinstance(arg, Call):
        raise ApiError.invalid(f"expected a filter, got {arg!r}")
    return arg


def _as_value(arg: Call | str) -> str:
    if isinstance(arg, Call):
        raise ApiError.invalid(f"expected a value, got {arg.name}(...)")
    return arg


@dataclass
class ListQuery:
    """Everything a list, count or get request asks for, validated."""

    spec: ResourceSpec
    predicates: list[Predicate]
    order: tuple[str, bool] | None  # (field, descending)
    id_low: Decimal | None  # exclusive lower id bound taken from the filters, for bisect
    id_high: Decimal | None  # inclusive upper id bound
    projection: list[tuple[str, list[str] | None]]  # (field, expanded target fields or None)
    limit: int
    offset: int


def parse_list_query(resource: str, params: dict[str, str], *, over_limit: str, unknown_field: str,
                     paged: bool = True) -> ListQuery:
    """`paged=False` for /count, which ignores `_limit`, `_page`, `_offset` and `_fields`."""
    spec = RESOURCES[resource]
    named: dict[str, Call] = {}
    for call in parse_calls(params.get("_filters", "")):  # the last of two same-named filters wins
        key = "order_by" if call.name in {"order_by_asc", "order_by_desc"} else call.name
        named[key] = call
    order = None
    order_call = named.pop("order_by", None)
    if order_call is not None:
        column = _as_value(order_call.args[0]) if len(order_call.args) == 1 else ""
        if column not in spec.order_by:
            raise ApiError.invalid(f"cannot order {resource} by {column!r}; allowed: {', '.join(spec.order_by)}")
        order = (column, order_call.name == "order_by_desc")
    predicates = [compile_filter(spec, call) for call in named.values()]
    id_low, id_high = _id_bounds(named)
    search = params.get("_search", "").strip().lower()
    if search and spec.search:
        predicates.append(lambda row: any(search in str(row.get(f) or "").lower() for f in spec.search))
    return ListQuery(
        spec=spec,
        predicates=predicates,
        order=order,
        id_low=id_low,
        id_high=id_high,
        projection=parse_fields(spec, params.get("_fields", ""), unknown_field) if paged else [],
        limit=_limit(params, over_limit) if paged else 0,
        offset=_offset(params) if paged else 0,
    )


def _id_bounds(named: dict[str, Call]) -> tuple[Decimal | None, Decimal | None]:
    """Only an optimisation: the predicates still apply; this just narrows the id slice walked."""
    def bound(name: str) -> Decimal | None:
        call = named.get(name)
        if call is None or len(call.args) != 1 or isinstance(call.args[0], Call):
            return None
        try:
            return Decimal(call.args[0])
        except InvalidOperation:
            return None

    low = bound("id_greater_than")
    low_inclusive = bound("id_greater_than_or_equal")
    if low_inclusive is not None:
        low = max(low_inclusive - 1, low) if low is not None else low_inclusive - 1
    high = bound("id_less_than_or_equal")
    high_exclusive = bound("id_less_than")
    if high_exclusive is not None:  # ids are whole: `id < 10.5` keeps id 10, so round the bound up first
        high_exclusive = high_exclusive.to_integral_value(rounding=ROUND_CEILING)
        high = min(high_exclusive - 1, high) if high is not None else high_exclusive - 1
    return low, high


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError.invalid(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise ApiError.invalid(f"{name} must not be negative")
    return value


def _limit(params: dict[str, str], over_limit: str) -> int:
    limit = _int_param(params, "_limit", DEFAULT_LIMIT)
    if limit < 1:
        raise ApiError.invalid("_limit must be at least 1")
    if limit > MAX_LIMIT:
        if over_limit == "reject":
            raise ApiError.invalid(f"_limit must be at most {MAX_LIMIT}")
        limit = MAX_LIMIT
    return limit


def _offset(params: dict[str, str]) -> int:
    """`_page` is 0-based and wins over `_offset`; both count in rows of the current `_limit`."""
    limit = _limit(params, "cap")
    if params.get("_page") not in (None, ""):
        return _int_param(params, "_page", 0) * limit
    return _int_param(params, "_offset", 0)


def parse_fields(spec: ResourceSpec, text: str, unknown_field: str) -> list[tuple[str, list[str] | None]]:
    """Default fields, then what `_fields` adds: names, `_ALL`, `link()` or `link(a,b)` one level deep."""
    chosen: dict[str, list[str] | None] = {name: None for name in spec.default_fields}
    for call in parse_calls(text):
        if call.name == "_ALL":
            for name in spec.all_fields:
                chosen.setdefault(name, None)
            continue
        found = spec.by_name.get(call.name)
        if found is None:
            if unknown_field == "reject":
                raise ApiError.invalid(f"unknown field '{call.name}' for {spec.name}")
            continue
        if not call.parens:
            chosen.setdefault(found.name, None)
            continue
        if found.kind != "link":
            if unknown_field == "reject":
                raise ApiError.invalid(f"'{call.name}' is not a linked field of {spec.name}")
            chosen.setdefault(found.name, None)
            continue
        target = RESOURCES[found.target or ""]
        names = [_as_value(arg) for arg in call.args] or list(target.default_fields)
        unknown = [n for n in names if n not in target.by_name]
        if unknown and unknown_field == "reject":
            raise ApiError.invalid(f"unknown field(s) {', '.join(unknown)} for {found.name}")
        chosen[found.name] = ["id", *[n for n in names if n in target.by_name and n != "id"]]
    return list(chosen.items())


def select(query: ListQuery, table: dict[int, Row], order: list[int]) -> tuple[list[Row], int]:
    """The page of stored rows a query returns, and how many rows were examined (for the latency model)."""
    start = 0 if query.id_low is None else bisect.bisect_right(order, query.id_low)
    end = len(order) if query.id_high is None else bisect.bisect_right(order, query.id_high)
    ids = order[start:end]
    matches = (table[i] for i in ids if all(p(table[i]) for p in query.predicates))
    if query.order is None:
        page = []
        for n, row in enumerate(matches):
            if n >= query.offset + query.limit:
                break
            if n >= query.offset:
                page.append(row)
        return page, len(page)
    column, descending = query.order
    spec_field = query.spec.by_name[column]
    rows = list(matches)
    present = [r for r in rows if r.get(column) is not None]
    absent = [r for r in rows if r.get(column) is None]
    present.sort(key=lambda r: (typed(spec_field, r.get(column)), int(r["id"])), reverse=descending)
    ordered = present + absent  # unset values last either way
    return ordered[query.offset: query.offset + query.limit], len(rows)


def count(query: ListQuery, table: dict[int, Row], order: list[int]) -> int:
    start = 0 if query.id_low is None else bisect.bisect_right(order, query.id_low)
    end = len(order) if query.id_high is None else bisect.bisect_right(order, query.id_high)
    return sum(1 for i in order[start:end] if all(p(table[i]) for p in query.predicates))
