"""The simulator's own model of Accelo's resources (accelo-api.md §6).

Kept apart from the client's entity registry on purpose: if both sides read one table, a wrong field would agree
with itself and no test would notice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FieldKind = Literal["uint", "int", "str", "dec", "ts", "bool", "link"]

NUMERIC_KINDS = frozenset({"uint", "int", "dec", "ts", "link"})


@dataclass(frozen=True)
class Field:
    """One field as the API lists it: its wire kind and how it is asked for."""

    name: str
    kind: FieldKind
    default: bool = False  # returned without `_fields`
    hidden: bool = False  # not part of `_ALL`: only returned when asked for by name
    target: str | None = None  # table a link points into


@dataclass(frozen=True)
class ResourceSpec:
    """A table of the simulated deployment; `listable` ones have API routes, the rest are link targets."""

    name: str
    fields: tuple[Field, ...]
    order_by: tuple[str, ...] = ("id",)
    search: tuple[str, ...] = ()
    listable: bool = True
    by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    @property
    def default_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.default)

    @property
    def all_fields(self) -> tuple[str, ...]:
        """What `_fields=_ALL` returns (defaults first, hidden ones excluded)."""
        return self.default_fields + tuple(f.name for f in self.fields if not f.default and not f.hidden)

    @property
    def date_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.kind == "ts")


def _f(name: str, kind: FieldKind, target: str | None = None, **flags: bool) -> Field:
    return Field(name, kind, target=target, **flags)


def _lookup(name: str, *extra: Field) -> ResourceSpec:
    """A small link-target table: every field is a default field."""
    fields = (Field("id", "uint", default=True), *(Field(x.name, x.kind, default=True) for x in extra))
    return ResourceSpec(name, fields, listable=False)


RESOURCES: dict[str, ResourceSpec] = {
    spec.name: spec
    for spec in (
        ResourceSpec(
            "companies",
            (
                _f("id", "uint", default=True),
                _f("name", "str", default=True),
                _f("custom_id", "str"),
                _f("website", "str"),
                _f("phone", "str"),
                _f("fax", "str"),
                _f("comments", "str"),
                _f("date_created", "ts"),
                _f("date_modified", "ts"),
                _f("date_last_interacted", "ts"),
                _f("standing", "str"),
                _f("status", "link", "company_statuses"),
                _f("postal_address", "link", "addresses"),
                _f("staff_bookmarked", "bool"),
                _f("default_affiliation", "uint"),
            ),
            order_by=("id", "date_created", "date_modified", "date_last_interacted", "name", "standing"),
            search=("name", "website", "custom_id"),
        ),
        ResourceSpec(
            "invoices",
            (
                _f("id", "uint", default=True),
                _f("amount", "dec", default=True),
                _f("subject", "str"),
                _f("notes", "str"),
                _f("against_type", "str"),
                _f("against_id", "uint"),
                _f("invoice_number", "int"),
                _f("currency_id", "uint"),
                _f("owner_id", "uint"),
                _f("modified_by", "uint"),
                _f("affiliation_id", "uint"),
                _f("creator_id", "uint"),
                _f("tax", "dec"),
                _f("outstanding", "dec"),
                _f("date_raised", "ts"),
                _f("date_due", "ts"),
                _f("date_modified", "ts"),
                _f("contact", "link", "contacts"),
                _f("affiliation", "link", "affiliations"),
                _f("created_by", "link", "staff"),
            ),
            order_by=("id", "date_raised", "date_due", "date_modified"),
            search=("subject",),
        ),
        ResourceSpec(
            "payments",
            (
                _f("id", "uint", default=True),
                _f("receipt_id", "uint", default=True),
                _f("amount", "dec", default=True),
                _f("currency_id", "uint"),
                _f("method_id", "uint"),
                _f("against_id", "uint"),
                _f("against_type", "str"),
                _f("created_by_staff_id", "uint"),
                _f("direction", "str"),
                _f("date_created", "ts"),
                _f("payment_currency", "link", "currencies"),
                _f("payment_method", "link", "payment_methods"),
                _f("payment_receipt", "link", "payment_receipts"),
            ),
            order_by=("id", "date_created", "amount"),
        ),
        ResourceSpec(
            "prospects",
            (
                _f("id", "uint", default=True),
                _f("title", "str", default=True),
                _f("date_created", "ts"),
                _f("date_actioned", "ts"),
                _f("date_due", "ts"),
                _f("date_last_interacted", "ts"),
                _f("date_modified", "ts"),
                _f("weighting", "int"),
                _f("value", "dec"),
                _f("success", "bool"),
                _f("comments", "str"),
                _f("progress", "dec"),
                _f("value_weighted", "int"),
                _f("staff_bookmarked", "bool"),
                _f("won_by_id", "uint"),
                _f("cancelled_by_id", "uint"),
                _f("abandoned_by_id", "uint"),
                _f("contact", "link", "contacts"),
                _f("manager", "link", "staff"),
                _f("prospect_type", "link", "prospect_types"),
                _f("status", "link", "prospect_statuses"),
                _f("standing", "str"),
                _f("prospect_probability", "link", "prospect_probabilities"),
                _f("affiliation", "link", "affiliations"),
            ),
            order_by=("id", "date_created", "date_modified", "date_due", "date_actioned", "title", "value"),
            search=("title",),
        ),
        ResourceSpec(
            "jobs",
            (
                _f("id", "uint", default=True),
                _f("title", "str", default=True),
                _f("against_type", "str"),
                _f("against_id", "uint"),
                _f("against", "str"),
                _f("custom_id", "str"),
                _f("paused", "int"),
                _f("staff_bookmarked", "bool"),
                _f("date_created", "ts"),
                _f("date_modified", "ts"),
                _f("date_commenced", "ts"),
                _f("date_started", "ts"),
                _f("date_due", "ts"),
                _f("date_completed", "ts"),
                _f("date_last_interacted", "ts"),
                _f("job_type", "link", "job_types"),
                _f("rate", "link", "rates"),
                _f("rate_charged", "dec"),
                _f("status", "link", "job_statuses"),
                _f("standing", "str"),
                _f("manager", "link", "staff"),
                _f("modified_by", "link", "staff"),
                _f("company", "link", "companies"),
                _f("affiliation", "link", "affiliations"),
            ),
            order_by=("id", "date_created", "date_modified", "date_due", "date_started", "title"),
            search=("title", "custom_id"),
        ),
        ResourceSpec(
            "staff",
            (
                _f("id", "uint", default=True),
                _f("firstname", "str", default=True),
                _f("surname", "str", default=True),
                _f("standing", "str"),
                _f("financial_level", "str"),
                _f("title", "str"),
                _f("email", "str"),
                _f("mobile", "str"),
                _f("phone", "str"),
                _f("fax", "str"),
                _f("position", "str"),
                _f("username", "str"),
                _f("timezone", "str"),
                _f("staff_rate", "dec", hidden=True),
                _f("staff_cost_rate", "dec", hidden=True),
            ),
            order_by=("id", "firstname", "surname"),
            search=("firstname", "surname", "email", "username"),
        ),
        _lookup("company_statuses", _f("title", "str"), _f("standing", "str"), _f("color", "str")),
        _lookup("job_statuses", _f("title", "str"), _f("standing", "str"), _f("color", "str")),
        _lookup("prospect_statuses", _f("title", "str"), _f("standing", "str"), _f("color", "str")),
        _lookup(
            "addresses",
            _f("title", "str"),
            _f("full", "str"),
            _f("street1", "str"),
            _f("city", "str"),
            _f("state", "str"),
            _f("postcode", "str"),
            _f("country", "str"),
        ),
        _lookup("contacts", _f("firstname", "str"), _f("surname", "str"), _f("email", "str"), _f("phone", "str")),
        _lookup(
            "affiliations",
            _f("company", "uint"),
            _f("contact", "uint"),
            _f("email", "str"),
            _f("phone", "str"),
            _f("position", "str"),
        ),
        _lookup("job_types", _f("title", "str"), _f("standing", "str")),
        _lookup("rates", _f("title", "str"), _f("charged", "dec")),
        _lookup("prospect_types", _f("title", "str"), _f("standing", "str")),
        _lookup("prospect_probabilities", _f("title", "str"), _f("value", "int")),
        _lookup("currencies", _f("title", "str"), _f("symbol", "str"), _f("conversion", "dec")),
        _lookup("payment_methods", _f("title", "str")),
        _lookup("payment_receipts", _f("amount", "dec"), _f("date_created", "ts"), _f("reference", "str")),
    )
}

LISTABLE: tuple[str, ...] = tuple(name for name, spec in RESOURCES.items() if spec.listable)
