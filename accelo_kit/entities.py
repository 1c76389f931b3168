"""What the kit fetches: one declaration per Accelo resource (docs/accelo-api.md, Resources).

Each entity names its path, every field the reference documents (and nothing it lacks), the primary key, the
incremental strategy and each column's type. Adding a resource is one more `Entity(...)` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeGuard, get_args

ColumnType = Literal["int", "link", "decimal", "timestamp", "bool", "str"]
Strategy = Literal["date_modified", "created", "full"]
# what each strategy fetches in a run (docs/sync.md's resource table is generated from this)
STRATEGIES: dict[Strategy, str] = {
    "date_modified": "a window on `date_modified`, from the saved cursor less the overlap to the run's start on the "
                     "server's clock",
    "created": "new rows by id (`date_created` for the first sync); edits only seen by the periodic full pass",
    "full": "refetched in full every run (no date fields to filter on)",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType


@dataclass(frozen=True)
class Entity:
    name: str  # the resource path under /api/v0 and the destination table name
    columns: tuple[Column, ...]
    strategy: Strategy
    cursor_field: str | None = None  # the date field the strategy filters on
    primary_key: str = "id"

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def fields_param(self) -> str:
        """`_fields` naming every column: explicit names rather than `_ALL`, which omits some (staff rates)."""
        return ",".join(c.name for c in self.columns if c.name != self.primary_key)

    def column_types(self) -> list[tuple[str, str]]:
        return [(c.name, c.type) for c in self.columns]


def _is_column_type(kind: str) -> TypeGuard[ColumnType]:
    return kind in get_args(ColumnType)


def _columns(spec: str) -> tuple[Column, ...]:
    """`"id:int name:str ..."`: compact, and one glance shows a whole resource; a misspelt type fails at import."""
    columns = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        if not _is_column_type(kind):
            raise ValueError(f"{item!r}: unknown column type (known: {', '.join(get_args(ColumnType))})")
        columns.append(Column(name, kind))
    return tuple(columns)


ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity(
            "companies",
            _columns(
                "id:int name:str custom_id:str website:str phone:str fax:str comments:str "
                "date_created:timestamp date_modified:timestamp date_last_interacted:timestamp standing:str "
                "status:link postal_address:link staff_bookmarked:bool default_affiliation:int"
            ),
            strategy="date_modified",
            cursor_field="date_modified",
        ),
        Entity(
            "invoices",
            _columns(
                "id:int amount:decimal subject:str notes:str against_type:str against_id:int invoice_number:int "
                "currency_id:int owner_id:int modified_by:int affiliation_id:int creator_id:int tax:decimal "
                "outstanding:decimal date_raised:timestamp date_due:timestamp date_modified:timestamp "
                "contact:link affiliation:link created_by:link"
            ),
            strategy="date_modified",
            cursor_field="date_modified",
        ),
        Entity(
            "payments",
            _columns(
                "id:int receipt_id:int amount:decimal currency_id:int method_id:int against_id:int "
                "against_type:str created_by_staff_id:int direction:str date_created:timestamp "
                "payment_currency:link payment_method:link payment_receipt:link"
            ),
            strategy="created",
            cursor_field="date_created",
        ),
        Entity(
            "prospects",
            _columns(
                "id:int title:str date_created:timestamp date_actioned:timestamp date_due:timestamp "
                "date_last_interacted:timestamp date_modified:timestamp weighting:int value:decimal success:bool "
                "comments:str progress:decimal value_weighted:int staff_bookmarked:bool won_by_id:int "
                "cancelled_by_id:int abandoned_by_id:int contact:link manager:link prospect_type:link status:link "
                "standing:str prospect_probability:link affiliation:link"
            ),
            strategy="date_modified",
            cursor_field="date_modified",
        ),
        Entity(
            "jobs",
            _columns(
                "id:int title:str against_type:str against_id:int against:str custom_id:str paused:int "
                "staff_bookmarked:bool date_created:timestamp date_modified:timestamp date_commenced:timestamp "
                "date_started:timestamp date_due:timestamp date_completed:timestamp "
                "date_last_interacted:timestamp job_type:link rate:link rate_charged:decimal status:link "
                "standing:str manager:link modified_by:link company:link affiliation:link"
            ),
            strategy="date_modified",
            cursor_field="date_modified",
        ),
        Entity(
            "staff",
            _columns(
                "id:int firstname:str surname:str standing:str financial_level:str title:str email:str "
                "mobile:str phone:str fax:str position:str username:str timezone:str "
                "staff_rate:decimal staff_cost_rate:decimal"
            ),
            strategy="full",
        ),
    )
}


def entity(name: str) -> Entity:
    try:
        return ENTITIES[name]
    except KeyError:
        raise KeyError(f"unknown entity {name!r}; known: {', '.join(ENTITIES)}") from None


# -- what the explorer shows about each resource (docs/accelo-api.md, Resources) ---------------------------------
# Accelo's standings per resource (the values `standing(...)` filters on); invoices and payments have none
STANDINGS: dict[str, tuple[str, ...]] = {
    "companies": ("active", "inactive", "prospect"),
    "prospects": ("pending", "active", "won", "lost", "abandoned"),
    "jobs": ("pending", "active", "paused", "complete", "closed"),
    "staff": ("active", "inactive", "lockout"),
}
# money worth plotting over time: resource → (its amount column, the date that amount belongs to)
MONEY: dict[str, tuple[str, str]] = {
    "invoices": ("amount", "date_raised"),
    "payments": ("amount", "date_created"),
    "prospects": ("value", "date_created"),
    "jobs": ("rate_charged", "date_created"),
}
# (left, right) → the column of the left resource that holds a right resource's id
JOIN_HINTS: dict[tuple[str, str], str] = {
    ("invoices", "companies"): "against_id",
    ("invoices", "jobs"): "against_id",
    ("invoices", "staff"): "owner_id",
    ("payments", "invoices"): "against_id",
    ("payments", "staff"): "created_by_staff_id",
    ("jobs", "companies"): "company",
    ("jobs", "staff"): "manager",
    ("prospects", "staff"): "manager",
}
# an `against_id` points at whatever `against_type` names: resource → the `against_type` value naming it
AGAINST_TYPES: dict[str, str] = {"companies": "company", "jobs": "job", "invoices": "account_invoice"}
