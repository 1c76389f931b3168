"""The simulated deployment's live data, and the mutations a test can make while a client is paging."""

from __future__ import annotations

import bisect
import copy
import random
import threading
from collections.abc import Callable, Iterable
from decimal import Decimal

from .data import DAY, Row, Tables, generate, money
from .schema import LISTABLE, RESOURCES
from .settings import SimSettings

# the field a modification visibly changes, per resource
EDITABLE = {
    "companies": "comments",
    "invoices": "notes",
    "payments": "method_id",
    "prospects": "comments",
    "jobs": "title",
    "staff": "position",
}


class Store:
    """Tables keyed by id plus an ascending id index per listable resource, all behind one lock.

    Ids only grow: an insert takes an id above any ever used, so a keyset scan sees inserts at its end.
    """

    def __init__(self, settings: SimSettings, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.tables: Tables = generate(settings)
        self.order: dict[str, list[int]] = {name: sorted(self.tables[name]) for name in LISTABLE}
        self._high_water = {name: (ids[-1] if ids else 0) for name, ids in self.order.items()}
        self._rng = random.Random(settings.seed ^ 0x5EED)
        self._graveyard: dict[tuple[str, int], Row] = {}
        numbers = [int(r["invoice_number"]) for r in self.tables["invoices"].values() if r["invoice_number"]]
        self._invoice_number = max(numbers, default=1000)

    # -- reading -------------------------------------------------------------------------------------------
    def truth(self, resource: str) -> list[Row]:
        """Every row of `resource` in ascending id with every field (hidden ones too), as stored."""
        with self.lock:
            return [copy.copy(self.tables[resource][i]) for i in self.order[resource]]

    def ids(self, resource: str) -> list[int]:
        with self.lock:
            return list(self.order[resource])

    # -- mutations -----------------------------------------------------------------------------------------
    def _now(self) -> int:
        return int(self.clock())

    def _choose(self, resource: str, ids: Iterable[int] | None, count: int) -> list[int]:
        if ids is not None:
            chosen = [int(i) for i in ids]
            missing = [i for i in chosen if i not in self.tables[resource]]
            if missing:
                raise KeyError(f"{resource} has no rows with ids {missing}")
            return chosen
        existing = self.order[resource]
        return sorted(self._rng.sample(existing, min(count, len(existing))))

    def insert(self, resource: str, count: int = 1, at: int | None = None, **overrides: str | None) -> list[int]:
        """Add `count` rows modelled on existing ones (so every link stays valid), stamped `at` (default now).

        Many rows inserted with one `at` share a date_modified second, the case strict `_after` filters trip on.
        """
        with self.lock:
            stamp = str(self._now() if at is None else at)
            table, new_ids = self.tables[resource], []
            if not table:
                raise ValueError(f"cannot insert into empty {resource}: no row to model the new one on")
            for _ in range(count):
                row = copy.copy(table[self._rng.choice(self.order[resource])])
                self._high_water[resource] += self._rng.choice((1, 1, 2, 5))
                new_id = self._high_water[resource]
                row["id"] = str(new_id)
                self._freshen(resource, row, int(stamp))
                row.update(overrides)
                table[new_id] = row
                self.order[resource].append(new_id)
                new_ids.append(new_id)
                if resource == "payments":
                    self._settle_invoice(int(row["against_id"]), stamp)
            return new_ids

    def modify(self, resource: str, ids: Iterable[int] | None = None, count: int = 1, at: int | None = None,
               **overrides: str | None) -> list[int]:
        """Change rows visibly and bump date_modified to `at` (default the server's now)."""
        with self.lock:
            stamp = str(self._now() if at is None else at)
            chosen = self._choose(resource, ids, count)
            too_early = [i for i in chosen if int(self.tables[resource][i].get("date_created") or 0) > int(stamp)]
            if too_early:
                raise ValueError(f"{resource} {too_early} were created after {stamp}: a modification cannot precede it")
            editable = EDITABLE[resource]
            for row_id in chosen:
                row = self.tables[resource][row_id]
                if resource == "payments":
                    row["method_id"] = row["payment_method"] = str(1 + int(row["method_id"]) % 4)
                else:
                    row[editable] = f"{row[editable] or ''} (edited)".strip()
                if "date_modified" in row:
                    row["date_modified"] = stamp
                row.update(overrides)
            return chosen

    def delete(self, resource: str, ids: Iterable[int] | None = None, count: int = 1) -> list[int]:
        """Hard-delete rows: they vanish from lists and `/{id}` answers 400, as in Accelo.

        Links that pointed at a deleted row are left dangling (Accelo has no cascade we can observe);
        deleting a payment re-settles its invoice.
        """
        with self.lock:
            chosen = self._choose(resource, ids, count)
            stamp = str(self._now())
            for row_id in chosen:
                row = self.tables[resource].pop(row_id)
                self._graveyard[(resource, row_id)] = row
                order = self.order[resource]
                del order[bisect.bisect_left(order, row_id)]
                if resource == "payments":
                    self._settle_invoice(int(row["against_id"]), stamp)
            return chosen

    def _freshen(self, resource: str, row: Row, stamp: int) -> None:
        """Make a copied row a new one: its own dates, numbers and receipt, nothing it could not have yet."""
        new_id = int(row["id"])
        for name in ("date_created", "date_modified", "date_raised"):
            if name in row:
                row[name] = str(stamp)
        for name in ("date_last_interacted", "date_actioned", "date_commenced", "date_started", "date_completed"):
            if name in row:
                row[name] = None
        if "date_due" in row:
            row["date_due"] = str(stamp + 30 * DAY)
        if "custom_id" in row:
            row["custom_id"] = f"{resource[0].upper()}{new_id:05d}"
        if resource == "invoices":
            self._invoice_number += 1
            row["invoice_number"] = str(self._invoice_number)
            row["subject"] = f"Invoice {self._invoice_number}"
            row["outstanding"] = money(Decimal(row["amount"]) + Decimal(row["tax"]))
        elif resource == "payments":
            self._aim_payment(row)
            receipts = self.tables["payment_receipts"]
            receipt_id = max(receipts, default=0) + 1
            receipts[receipt_id] = {"id": str(receipt_id), "amount": row["amount"], "date_created": str(stamp),
                                    "reference": f"R{receipt_id:06d}"}
            row["receipt_id"] = row["payment_receipt"] = str(receipt_id)
        elif resource == "jobs":
            row.update(standing="pending", status="1", paused="0")
        elif resource == "prospects":
            row.update(standing="pending", status="1", success="no", won_by_id=None, cancelled_by_id=None,
                       abandoned_by_id=None)

    def _aim_payment(self, payment: Row) -> None:
        """Point a new payment at an invoice that still owes money, for no more than it owes."""
        invoices = self.tables["invoices"]
        candidates = [i for i in self._rng.sample(self.order["invoices"], min(50, len(invoices)))
                      if Decimal(invoices[i]["outstanding"]) > 0]
        if not candidates:
            return
        invoice = invoices[candidates[0]]
        owed = Decimal(invoice["outstanding"])
        payment.update(against_id=invoice["id"], direction="credit", currency_id=invoice["currency_id"],
                       payment_currency=invoice["currency_id"], amount=money(min(Decimal(payment["amount"]), owed)))

    def undelete(self, resource: str, ids: Iterable[int]) -> list[int]:
        """Bring hard-deleted rows back under their old ids, modified now (a restore from Accelo's side)."""
        with self.lock:
            stamp = str(self._now())
            restored = []
            for row_id in ids:
                row = self._graveyard.pop((resource, int(row_id)), None)
                if row is None:
                    raise KeyError(f"{resource} {row_id} was not deleted")
                if "date_modified" in row:
                    row["date_modified"] = stamp
                self.tables[resource][int(row_id)] = row
                bisect.insort(self.order[resource], int(row_id))
                restored.append(int(row_id))
                if resource == "payments":
                    self._settle_invoice(int(row["against_id"]), stamp)
            return restored

    def _settle_invoice(self, invoice_id: int, stamp: str) -> None:
        """Keep `outstanding` equal to amount + tax - credits + debits, and show the change as a modification."""
        invoice = self.tables["invoices"].get(invoice_id)
        if invoice is None:
            return
        balance = Decimal(invoice["amount"]) + Decimal(invoice["tax"])
        for payment in self.tables["payments"].values():
            if payment["against_id"] == str(invoice_id):
                sign = -1 if payment["direction"] == "credit" else 1
                balance += sign * Decimal(payment["amount"])
        invoice["outstanding"] = money(max(balance, Decimal(0)))
        invoice["date_modified"] = stamp


__all__ = ["RESOURCES", "Store"]
