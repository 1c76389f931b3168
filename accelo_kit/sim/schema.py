"""The simulator's own model of Accelo's resources (docs/accelo-api.md, Resources).

Kept apart from the client's entity registry on purpose: if both sides read one table, a wrong field would agree
with itself and no test would notice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeGuard, get_args

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


def _is_field_kind(kind: str) -> TypeGuard[FieldKind]:
    return kind in get_args(FieldKind)


def parse_fields(spec: str) -> tuple[Field, ...]:
    """`"id:uint* name:str status:link>company_statuses staff_rate:dec!"`: `*` a default field, `!` hidden from
    `_ALL`, `>table` a link's target. One line per resource reads like the reference's table."""
    fields = []
    for item in spec.split():
        default, hidden = item.endswith("*"), item.endswith("!")
        name, _, kind = item.rstrip("*!").partition(":")
        kind, _, target = kind.partition(">")
        if not _is_field_kind(kind):
            raise ValueError(f"{item!r}: unknown field kind (known: {', '.join(get_args(FieldKind))})")
        fields.append(Field(name, kind, default=default, hidden=hidden, target=target or None))
    return tuple(fields)


def _lookup(name: str, fields: str) -> ResourceSpec:
    """A small link-target table: every field is a default field."""
    return ResourceSpec(name, parse_fields(" ".join(f + "*" for f in f"id:uint {fields}".split())), listable=False)


RESOURCES: dict[str, ResourceSpec] = {
    spec.name: spec
    for spec in (
        ResourceSpec(
            "companies",
            parse_fields(
                "id:uint* name:str* custom_id:str website:str phone:str fax:str comments:str date_created:ts "
                "date_modified:ts date_last_interacted:ts standing:str status:link>company_statuses "
                "postal_address:link>addresses staff_bookmarked:bool default_affiliation:uint"
            ),
            order_by=("id", "date_created", "date_modified", "date_last_interacted", "name", "standing"),
            search=("name", "website", "custom_id"),
        ),
        ResourceSpec(
            "invoices",
            parse_fields(
                "id:uint* amount:dec* subject:str notes:str against_type:str against_id:uint invoice_number:int "
                "currency_id:uint owner_id:uint modified_by:uint affiliation_id:uint creator_id:uint tax:dec "
                "outstanding:dec date_raised:ts date_due:ts date_modified:ts contact:link>contacts "
                "affiliation:link>affiliations created_by:link>staff"
            ),
            order_by=("id", "date_raised", "date_due", "date_modified"),
            search=("subject",),
        ),
        ResourceSpec(
            "payments",
            parse_fields(
                "id:uint* receipt_id:uint* amount:dec* currency_id:uint method_id:uint against_id:uint "
                "against_type:str created_by_staff_id:uint direction:str date_created:ts "
                "payment_currency:link>currencies payment_method:link>payment_methods "
                "payment_receipt:link>payment_receipts"
            ),
            order_by=("id", "date_created", "amount"),
        ),
        ResourceSpec(
            "prospects",
            parse_fields(
                "id:uint* title:str* date_created:ts date_actioned:ts date_due:ts date_last_interacted:ts "
                "date_modified:ts weighting:int value:dec success:bool comments:str progress:dec value_weighted:int "
                "staff_bookmarked:bool won_by_id:uint cancelled_by_id:uint abandoned_by_id:uint contact:link>contacts "
                "manager:link>staff prospect_type:link>prospect_types status:link>prospect_statuses standing:str "
                "prospect_probability:link>prospect_probabilities affiliation:link>affiliations"
            ),
            order_by=("id", "date_created", "date_modified", "date_due", "date_actioned", "title", "value"),
            search=("title",),
        ),
        ResourceSpec(
            "jobs",
            parse_fields(
                "id:uint* title:str* against_type:str against_id:uint against:str custom_id:str paused:int "
                "staff_bookmarked:bool date_created:ts date_modified:ts date_commenced:ts date_started:ts "
                "date_due:ts date_completed:ts date_last_interacted:ts job_type:link>job_types rate:link>rates "
                "rate_charged:dec status:link>job_statuses standing:str manager:link>staff modified_by:link>staff "
                "company:link>companies affiliation:link>affiliations"
            ),
            order_by=("id", "date_created", "date_modified", "date_due", "date_started", "title"),
            search=("title", "custom_id"),
        ),
        ResourceSpec(
            "staff",
            parse_fields(
                "id:uint* firstname:str* surname:str* standing:str financial_level:str title:str email:str "
                "mobile:str phone:str fax:str position:str username:str timezone:str staff_rate:dec! "
                "staff_cost_rate:dec!"
            ),
            order_by=("id", "firstname", "surname"),
            search=("firstname", "surname", "email", "username"),
        ),
        _lookup("company_statuses", "title:str standing:str color:str"),
        _lookup("job_statuses", "title:str standing:str color:str"),
        _lookup("prospect_statuses", "title:str standing:str color:str"),
        _lookup("addresses", "title:str full:str street1:str city:str state:str postcode:str country:str"),
        _lookup("contacts", "firstname:str surname:str email:str phone:str"),
        _lookup("affiliations", "company:uint contact:uint email:str phone:str position:str"),
        _lookup("job_types", "title:str standing:str"),
        _lookup("rates", "title:str charged:dec"),
        _lookup("prospect_types", "title:str standing:str"),
        _lookup("prospect_probabilities", "title:str value:int"),
        _lookup("currencies", "title:str symbol:str conversion:dec"),
        _lookup("payment_methods", "title:str"),
        _lookup("payment_receipts", "amount:dec date_created:ts reference:str"),
    )
}

LISTABLE: tuple[str, ...] = tuple(name for name, spec in RESOURCES.items() if spec.listable)
