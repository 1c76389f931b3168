"""Deterministic, internally consistent fake deployment data, stored as Accelo sends it (strings, unix seconds).

Rows hold wire values except that an unset date is always None here; the server renders None as `null` or `"0"`
according to the `unset_date` switch. Relations hold: every linked id exists, `date_created <= date_modified`,
and an invoice's `outstanding` is `amount + tax` less its credit payments plus its debit ones.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from .settings import SimSettings

Row = dict[str, Any]
Tables = dict[str, dict[int, Row]]

DAY = 86_400
YEAR = 365 * DAY
CENT = Decimal("0.01")

FIRST_NAMES = (
    "Olivia Liam Amelia Noah Isla Jack Mia William Ava Henry Grace Oliver Chloe Leo Zoe Lucas Ruby Thomas "
    "Sophie James Harper Ethan Evie Samuel Ella Max Lily Charlie Aria Archie Priya Arjun Mei Wei Sione Aroha"
).split()
SURNAMES = (
    "Smith Jones Williams Brown Wilson Taylor Johnson White Martin Anderson Thompson Nguyen Thomas Walker "
    "Harris Lee Ryan Robinson Kelly King Davis Wright Evans Roberts Green Hall Wood Jackson Clarke Patel Chen"
).split()
COMPANY_WORDS = (
    "Northwind Bluegum Harbour Summit Ironbark Coastal Meridian Granite Silverleaf Redgum Lakeside Pinnacle "
    "Kestrel Wattle Horizon Banksia Sterling Cobalt Juniper Orchard Beacon Quarry Tasman Marlin Aspen"
).split()
COMPANY_KINDS = (
    "Legal", "Architects", "Engineering", "Consulting", "Design", "Accounting", "Media", "Logistics",
    "Software", "Health", "Builders", "Marketing", "Advisory", "Labs", "Studio",
)
SUFFIXES = ("Pty Ltd", "Ltd", "LLC", "Inc", "Group", "& Co", "")
JOB_WORDS = (
    "Website rebuild", "Brand refresh", "Annual audit", "Office fit-out", "ERP rollout", "Tax return",
    "Campaign", "Compliance review", "Data migration", "Retainer", "Feasibility study", "Support contract",
    "Mobile app", "Site survey", "Strategy workshop",
)
CITIES = (
    ("Sydney", "NSW", "2000", "Australia"), ("Melbourne", "VIC", "3000", "Australia"),
    ("Brisbane", "QLD", "4000", "Australia"), ("Auckland", "AKL", "1010", "New Zealand"),
    ("Austin", "TX", "73301", "United States"), ("Denver", "CO", "80202", "United States"),
    ("London", "", "EC1A 1BB", "United Kingdom"), ("Toronto", "ON", "M5H 2N2", "Canada"),
)
POSITIONS = ("Director", "Account Manager", "Consultant", "Senior Consultant", "Designer", "Engineer",
             "Project Manager", "Bookkeeper", "Analyst", "Office Manager")
TIMEZONES = ("Australia/Sydney", "Australia/Melbourne", "Pacific/Auckland", "America/Denver", "Europe/London")

# standing -> weight; the status tables below give each standing its statuses
COMPANY_STANDINGS = {"active": 70, "inactive": 18, "prospect": 12}
JOB_STANDINGS = {"pending": 10, "active": 45, "paused": 5, "complete": 35, "closed": 5}
PROSPECT_STANDINGS = {"pending": 15, "active": 40, "won": 25, "lost": 12, "abandoned": 8}


def money(value: Decimal | float | int) -> str:
    """Exact cents, as Accelo writes money."""
    return str(Decimal(value).quantize(CENT))


def make_ids(rng: random.Random, count: int, layout: str, start: int = 1) -> list[int]:
    """Ascending unique ids. `gappy` leaves holes like a long-lived deployment; `skewed` puts 90% of rows
    into 10% of the id span (a bulk import), the case work stealing exists for."""
    if count <= 0:
        return []
    if layout == "dense":
        return list(range(start, start + count))
    if layout == "gappy":
        ids, current = [], start
        for _ in range(count):
            ids.append(current)
            current += rng.choice((1, 1, 1, 2, 3, 7))
        return ids
    span = count * 10
    dense_count = count - count // 10
    dense_start = start + span * 4 // 10
    sparse = rng.sample([i for i in range(start, start + span) if not dense_start <= i < dense_start + dense_count],
                        count - dense_count)
    return sorted([*sparse, *range(dense_start, dense_start + dense_count)])


class Generator:
    """Builds every table of a deployment from one seed."""

    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self.rng = random.Random(settings.seed)
        self.anchor = settings.anchor
        self.tables: Tables = {}

    # -- small helpers -------------------------------------------------------------------------------------
    def pick(self, table: str) -> int:
        return self.rng.choice(self._keys[table])

    def weighted(self, weights: dict[str, int]) -> str:
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    def moment(self, earliest: int, latest: int | None = None) -> int:
        """A whole second in [earliest, latest], biased towards recent so incremental windows see activity."""
        latest = self.anchor if latest is None else latest
        if latest <= earliest:
            return earliest
        return latest - int((latest - earliest) * self.rng.random() ** 2)

    def person(self) -> tuple[str, str]:
        return self.rng.choice(FIRST_NAMES), self.rng.choice(SURNAMES)

    def phone(self) -> str:
        return f"+61 {self.rng.randint(2, 9)} {self.rng.randint(1000, 9999)} {self.rng.randint(1000, 9999)}"

    def _store(self, name: str, rows: list[Row]) -> None:
        self.tables[name] = {int(row["id"]): row for row in rows}
        self._keys[name] = [int(row["id"]) for row in rows]

    def _ids(self, resource: str, start: int = 1) -> list[int]:
        layout = self.settings.id_layout
        return make_ids(self.rng, self.settings.size_of(resource), layout, start)

    # -- tables --------------------------------------------------------------------------------------------
    def build(self) -> Tables:
        self._keys: dict[str, list[int]] = {}
        self._lookups()
        self._staff()
        self._companies()
        self._jobs()
        self._invoices()
        self._payments()
        self._prospects()
        return self.tables

    def _lookups(self) -> None:
        def statuses(name: str, standings: dict[str, int], colours: tuple[str, ...]) -> None:
            rows = [
                {"id": str(i), "title": standing.title(), "standing": standing, "color": colours[i % len(colours)]}
                for i, standing in enumerate(standings, start=1)
            ]
            self._store(name, rows)

        colours = ("green", "blue", "orange", "grey", "red")
        statuses("company_statuses", COMPANY_STANDINGS, colours)
        statuses("job_statuses", JOB_STANDINGS, colours)
        statuses("prospect_statuses", PROSPECT_STANDINGS, colours)
        self._store("job_types", [{"id": str(i), "title": t, "standing": "active"}
                                  for i, t in enumerate(("Project", "Retainer", "Fixed fee", "Support"), 1)])
        self._store("rates", [{"id": str(i), "title": t, "charged": money(c)}
                              for i, (t, c) in enumerate((("Standard", 180), ("Senior", 240), ("Junior", 120),
                                                          ("Discount", 150)), 1)])
        self._store("prospect_types", [{"id": str(i), "title": t, "standing": "active"}
                                       for i, t in enumerate(("New business", "Upsell", "Renewal"), 1)])
        self._store("prospect_probabilities", [{"id": str(i), "title": f"{v}%", "value": str(v)}
                                               for i, v in enumerate((10, 25, 50, 75, 90), 1)])
        self._store("currencies", [{"id": "1", "title": "Australian Dollar", "symbol": "$", "conversion": "1.00"},
                                   {"id": "2", "title": "US Dollar", "symbol": "US$", "conversion": "1.52"},
                                   {"id": "3", "title": "New Zealand Dollar", "symbol": "NZ$", "conversion": "0.91"}])
        self._store("payment_methods", [{"id": str(i), "title": t}
                                        for i, t in enumerate(("Bank transfer", "Credit card", "Cheque", "Cash"), 1)])

    def _staff(self) -> None:
        rows = []
        for staff_id in self._ids("staff"):
            first, last = self.person()
            username = f"{first[0]}{last}{staff_id}".lower()
            rate = self.rng.choice((120, 150, 180, 220, 260))
            rows.append({
                "id": str(staff_id), "firstname": first, "surname": last,
                "standing": self.weighted({"active": 85, "inactive": 13, "lockout": 2}),
                "financial_level": self.weighted({"none": 30, "time": 40, "all": 30}),
                "title": self.rng.choice(("Mr", "Ms", "Dr", "Mx", "")),
                "email": f"{username}@example.com", "mobile": self.phone(), "phone": self.phone(), "fax": "",
                "position": self.rng.choice(POSITIONS), "username": username,
                "timezone": self.rng.choice(TIMEZONES),
                "staff_rate": money(rate), "staff_cost_rate": money(rate * Decimal("0.45")),
            })
        self._store("staff", rows)

    def _companies(self) -> None:
        companies: list[Row] = []
        addresses: list[Row] = []
        contacts: list[Row] = []
        affiliations: list[Row] = []
        bulk_import = self.anchor - 400 * DAY  # many rows share one date_modified second, as after an import
        for n, company_id in enumerate(self._ids("companies"), start=1):
            name = (f"{self.rng.choice(COMPANY_WORDS)} {self.rng.choice(COMPANY_KINDS)} "
                    f"{self.rng.choice(SUFFIXES)}").strip()
            created = self.moment(self.anchor - 6 * YEAR, self.anchor - 30 * DAY)
            modified = bulk_import if created <= bulk_import and self.rng.random() < 0.05 else self.moment(created)
            standing = self.weighted(COMPANY_STANDINGS)
            city, state, postcode, country = self.rng.choice(CITIES)
            street = f"{self.rng.randint(1, 400)} {self.rng.choice(SURNAMES)} Street"
            addresses.append({"id": str(n), "title": "Postal", "full": f"{street}, {city} {state} {postcode}",
                              "street1": street, "city": city, "state": state, "postcode": postcode,
                              "country": country})
            slug = "".join(ch for ch in name.split()[0].lower() if ch.isalnum())
            first_affiliation = None
            for _ in range(self.rng.choice((1, 1, 2, 3))):
                first, last = self.person()
                contact_id = len(contacts) + 1
                contacts.append({"id": str(contact_id), "firstname": first, "surname": last,
                                 "email": f"{first.lower()}.{last.lower()}@{slug}.example", "phone": self.phone()})
                affiliations.append({"id": str(contact_id), "company": str(company_id), "contact": str(contact_id),
                                     "email": contacts[-1]["email"], "phone": self.phone(),
                                     "position": self.rng.choice(POSITIONS)})
                first_affiliation = first_affiliation or contact_id
            interacted = self.moment(created) if self.rng.random() < 0.8 else None
            companies.append({
                "id": str(company_id), "name": name, "custom_id": f"C{company_id:05d}",
                "website": f"https://www.{slug}{company_id}.example", "phone": self.phone(),
                "fax": self.phone() if self.rng.random() < 0.2 else "",
                "comments": self.rng.choice(("", "", "Key account", "Prefers email", "Net 30 terms")),
                "date_created": str(created), "date_modified": str(max(modified, created)),
                "date_last_interacted": None if interacted is None else str(interacted),
                "standing": standing,
                "status": str(list(COMPANY_STANDINGS).index(standing) + 1),
                "postal_address": str(n),
                "staff_bookmarked": self.rng.choice(("1", "0", "0", "0")),
                "default_affiliation": str(first_affiliation),
            })
        self._store("companies", companies)
        self._store("addresses", addresses)
        self._store("contacts", contacts)
        self._store("affiliations", affiliations)
        self._affiliations_of: dict[str, list[int]] = {}
        for row in affiliations:
            self._affiliations_of.setdefault(row["company"], []).append(int(row["id"]))

    def _affiliation_for(self, company_id: int) -> int:
        return self.rng.choice(self._affiliations_of[str(company_id)])

    def _jobs(self) -> None:
        rows = []
        for job_id in self._ids("jobs"):
            company_id = self.pick("companies")
            company = self.tables["companies"][company_id]
            created = self.moment(int(company["date_created"]))
            standing = self.weighted(JOB_STANDINGS)
            started = self.moment(created, min(self.anchor, created + 60 * DAY)) if standing != "pending" else None
            due = created + self.rng.randint(30, 365) * DAY
            completed = (self.moment(started or created) if standing in {"complete", "closed"} else None)
            modified = self.moment(max(created, completed or created))
            rows.append({
                "id": str(job_id),
                "title": f"{self.rng.choice(JOB_WORDS)} - {company['name'].split()[0]}",
                "against_type": "company", "against_id": str(company_id), "against": f"companies/{company_id}",
                "custom_id": f"J{job_id:05d}", "paused": "1" if standing == "paused" else "0",
                "staff_bookmarked": self.rng.random() < 0.15,
                "date_created": str(created), "date_modified": str(modified),
                "date_commenced": None if started is None else str(started),
                "date_started": None if started is None else str(started),
                "date_due": str(due),
                "date_completed": None if completed is None else str(completed),
                "date_last_interacted": str(self.moment(created)) if self.rng.random() < 0.7 else None,
                "job_type": str(self.pick("job_types")), "rate": str(self.pick("rates")),
                "rate_charged": self.tables["rates"][self.pick("rates")]["charged"],
                "status": str(list(JOB_STANDINGS).index(standing) + 1), "standing": standing,
                "manager": str(self.pick("staff")), "modified_by": str(self.pick("staff")),
                "company": str(company_id), "affiliation": str(self._affiliation_for(company_id)),
            })
        self._store("jobs", rows)

    def _invoices(self) -> None:
        rows = []
        number = 1000
        jobs = self._keys["jobs"]
        for invoice_id in self._ids("invoices"):
            if jobs and self.rng.random() < 0.7:
                job = self.tables["jobs"][self.rng.choice(jobs)]
                against_type, against_id, company_id = "job", int(job["id"]), int(job["company"])
                earliest = int(job["date_created"])
            else:
                company_id = self.pick("companies")
                against_type, against_id = "company", company_id
                earliest = int(self.tables["companies"][company_id]["date_created"])
            raised = self.moment(earliest)
            amount = Decimal(self.rng.randint(200, 2_500_000)) / 100
            draft = self.rng.random() < 0.04
            number += 1
            affiliation = self._affiliation_for(company_id)
            owner = self.pick("staff")
            rows.append({
                "id": str(invoice_id), "amount": money(amount),
                "subject": f"Invoice {number} - {self.tables['companies'][company_id]['name']}",
                "notes": self.rng.choice(("", "Thank you for your business", "Progress claim", "Final claim")),
                "against_type": against_type, "against_id": str(against_id),
                "invoice_number": None if draft else str(number),
                "currency_id": str(self.rng.choices((1, 2, 3), weights=(85, 10, 5))[0]),
                "owner_id": str(owner), "modified_by": str(self.pick("staff")),
                "affiliation_id": str(affiliation), "creator_id": str(owner),
                "tax": money(amount * Decimal("0.10")), "outstanding": None,  # settled by _payments
                "date_raised": str(raised), "date_due": str(raised + self.rng.choice((7, 14, 30)) * DAY),
                "date_modified": str(raised),
                "contact": str(affiliation), "affiliation": str(affiliation), "created_by": str(owner),
            })
        self._store("invoices", rows)

    def _payments(self) -> None:
        """Payments land on invoices; the last payment touching an invoice also moves its date_modified."""
        invoices = self._keys["invoices"]
        receipts: list[Row] = []
        rows: list[Row] = []
        paid: dict[int, Decimal] = {}
        for payment_id in self._ids("payments"):
            if not invoices:
                break
            invoice = self.tables["invoices"][self.rng.choice(invoices)]
            invoice_id = int(invoice["id"])
            total = Decimal(invoice["amount"]) + Decimal(invoice["tax"])
            balance = total - paid.get(invoice_id, Decimal(0))
            if balance > 0 and self.rng.random() > 0.03:
                direction = "credit"
                amount = balance if self.rng.random() < 0.6 else (balance / self.rng.choice((2, 3, 4))).quantize(CENT)
            else:  # a refund of part of what was paid
                direction = "debit"
                amount = (min(paid.get(invoice_id, Decimal(0)), total) / 4).quantize(CENT)
            amount = max(amount, CENT) if direction == "credit" else amount
            paid[invoice_id] = paid.get(invoice_id, Decimal(0)) + (amount if direction == "credit" else -amount)
            created = self.moment(int(invoice["date_raised"]))
            receipt_id = len(receipts) + 1
            receipts.append({"id": str(receipt_id), "amount": money(amount), "date_created": str(created),
                             "reference": f"R{receipt_id:06d}"})
            method = self.pick("payment_methods")
            rows.append({
                "id": str(payment_id), "receipt_id": str(receipt_id), "amount": money(amount),
                "currency_id": invoice["currency_id"], "method_id": str(method),
                "against_id": str(invoice_id), "against_type": "account_invoice",
                "created_by_staff_id": str(self.pick("staff")), "direction": direction,
                "date_created": str(created), "payment_currency": invoice["currency_id"],
                "payment_method": str(method), "payment_receipt": str(receipt_id),
            })
            invoice["date_modified"] = str(max(int(invoice["date_modified"]), created))
        self._store("payments", rows)
        self._store("payment_receipts", receipts)
        for invoice_id, invoice in self.tables["invoices"].items():
            total = Decimal(invoice["amount"]) + Decimal(invoice["tax"])
            invoice["outstanding"] = money(max(total - paid.get(invoice_id, Decimal(0)), Decimal(0)))

    def _prospects(self) -> None:
        rows = []
        for prospect_id in self._ids("prospects"):
            company_id = self.pick("companies")
            affiliation = self._affiliation_for(company_id)
            created = self.moment(int(self.tables["companies"][company_id]["date_created"]))
            standing = self.weighted(PROSPECT_STANDINGS)
            actioned = self.moment(created) if standing in {"won", "lost", "abandoned"} else None
            weighting = self.rng.randint(1, 5)
            value = Decimal(self.rng.randint(50, 2_000)) * 100
            manager = self.pick("staff")
            probability = self.pick("prospect_probabilities")
            rows.append({
                "id": str(prospect_id),
                "title": f"{self.rng.choice(JOB_WORDS)} for {self.tables['companies'][company_id]['name']}",
                "date_created": str(created), "date_actioned": None if actioned is None else str(actioned),
                "date_due": str(created + self.rng.randint(14, 180) * DAY),
                "date_last_interacted": str(self.moment(created)) if self.rng.random() < 0.75 else None,
                "date_modified": str(self.moment(actioned or created)),
                "weighting": str(weighting), "value": money(value),
                "success": "yes" if standing == "won" else "no",
                "comments": self.rng.choice(("", "Referral", "Inbound enquiry", "Tender")),
                "progress": money(self.rng.choice((0, 10, 25, 50, 75, 100))),
                "value_weighted": str(int(value * weighting / 5)),
                "staff_bookmarked": self.rng.choice(("yes", "no", "no")),
                "won_by_id": str(manager) if standing == "won" else None,
                "cancelled_by_id": str(manager) if standing == "lost" else None,
                "abandoned_by_id": str(manager) if standing == "abandoned" else None,
                "contact": str(affiliation), "manager": str(manager),
                "prospect_type": str(self.pick("prospect_types")),
                "status": str(list(PROSPECT_STANDINGS).index(standing) + 1), "standing": standing,
                "prospect_probability": str(probability), "affiliation": str(affiliation),
            })
        self._store("prospects", rows)


def generate(settings: SimSettings) -> Tables:
    """Every table of the deployment `settings` describes; the same settings always give the same tables."""
    return Generator(settings).build()


def iter_links(tables: Tables, schema: dict[str, Any]) -> Iterator[tuple[str, int, str, int]]:
    """(table, row id, field, target id) for every link, for consistency checks."""
    for name, rows in tables.items():
        spec = schema[name]
        for field in spec.fields:
            if field.kind != "link":
                continue
            for row_id, row in rows.items():
                if row.get(field.name) is not None:
                    yield name, row_id, field.name, int(row[field.name])
