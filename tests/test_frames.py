"""accelo_kit.notebook.frames: records → typed DataFrames (issue 6, "accelo_kit.frames"; "Frames: dtypes for every
entity; exact money; None dates"). The records are the simulator's ground truth through the kit's own converter."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pandas as pd
import pytest

from accelo_kit.convert import RowConverter
from accelo_kit.entities import ENTITIES
from accelo_kit.notebook.frames import dtypes, money_as_float, to_frame
from accelo_kit.sim import Simulator

from .conftest import SMALL_SIZES

EXPECTED = {"int": "Int64", "link": "Int64", "decimal": "object", "timestamp": "datetime64[us, UTC]",
            "bool": "boolean", "str": "string"}


@pytest.fixture(scope="module")
def truth() -> dict[str, list[dict]]:
    """Converted rows of every entity (the simulator is generated, never started)."""
    sim = Simulator(seed=3, sizes=SMALL_SIZES)
    out = {}
    for name, spec in ENTITIES.items():
        convert = RowConverter(name, spec.column_types())
        out[name] = [convert(row) for row in sim.truth(name)]
        assert not convert.problems, convert.summary()
    return out


@pytest.mark.parametrize("name", list(ENTITIES))
def test_every_column_of_every_entity_has_its_dtype_and_values(name: str, truth) -> None:
    records = truth[name]
    frame = to_frame(name, records)
    assert list(frame.columns) == list(ENTITIES[name].field_names)
    assert len(frame) == len(records) > 0
    for column, kind in ENTITIES[name].column_types():
        assert str(frame[column].dtype) == EXPECTED[kind], (column, kind)
        assert str(dtypes(name)[column]) == EXPECTED[kind]
        for i in (0, len(records) // 2, len(records) - 1):  # values survive the trip, None as a missing value
            expected, actual = records[i][column], frame[column].iloc[i]
            if expected is None:
                assert pd.isna(actual), (column, actual)
            elif kind == "timestamp":
                assert actual.to_pydatetime() == expected and str(actual.tz) == "UTC"
            else:
                assert actual == expected and type(actual) is not float, (column, actual, expected)


def test_linked_ids_are_integer_columns(truth) -> None:
    jobs = to_frame("jobs", truth["jobs"])
    for link in ("company", "manager", "status", "job_type"):
        assert jobs[link].dtype == "Int64"
        assert jobs[link].notna().all()
    assert set(jobs["company"]) <= {r["id"] for r in truth["companies"]}


def test_money_is_exact() -> None:
    cents = [{"id": i, "amount": Decimal("0.10"), "tax": Decimal("0.20"), "outstanding": None} for i in range(1, 11)]
    big = {"id": 11, "amount": Decimal("99999999999999.9999"), "tax": Decimal("-0.0001"), "outstanding": None}
    frame = to_frame("invoices", [*cents, big], ["id", "amount", "tax", "outstanding"])
    assert frame["amount"].iloc[:10].sum() == Decimal("1.00")  # 10 × 0.1 as floats is 0.9999999999999999
    assert frame["amount"].iloc[10] == Decimal("99999999999999.9999")  # too many digits for a float
    assert (frame["amount"] + frame["tax"]).iloc[0] == Decimal("0.30")
    assert frame["outstanding"].isna().all()
    assert money_as_float(frame["amount"]).dtype == "float64"
    assert money_as_float(frame["outstanding"]).isna().all()


def test_a_float_in_a_money_column_is_refused() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        to_frame("payments", [{"id": 1, "amount": 0.1}], ["id", "amount"])


def test_none_dates_are_nat_and_every_date_is_utc() -> None:
    sydney = timezone(timedelta(hours=10))
    rows = [{"id": 1, "date_created": None, "date_modified": datetime(2026, 1, 1, 10, tzinfo=sydney)},
            {"id": 2, "date_created": datetime(2025, 6, 30, 23, 59, 59, tzinfo=timezone.utc), "date_modified": None}]
    frame = to_frame("companies", rows, ["id", "date_created", "date_modified"])
    assert frame["date_created"].isna().tolist() == [True, False]
    assert frame["date_modified"].iloc[0] == pd.Timestamp("2026-01-01T00:00:00Z")  # 10:00 in Sydney
    assert str(frame["date_modified"].dtype) == "datetime64[us, UTC]"
    all_unset = to_frame("companies", [{"id": 1}], ["id", "date_last_interacted"])
    assert str(all_unset["date_last_interacted"].dtype) == "datetime64[us, UTC]"
    assert all_unset["date_last_interacted"].isna().all()


def test_no_rows_still_gives_every_typed_column() -> None:
    frame = to_frame("prospects", [])
    assert frame.shape == (0, len(ENTITIES["prospects"].columns))
    assert {str(t) for t in frame.dtypes} == {"Int64", "object", "datetime64[us, UTC]", "boolean", "string"}


def test_unknown_columns_are_refused() -> None:
    with pytest.raises(KeyError, match="colour"):
        to_frame("staff", [], ["id", "colour"])


def test_a_large_frame_is_built_column_wise(truth) -> None:
    """120,000 invoices × 20 columns: row-by-row building would take minutes; column-wise it is well under a second
    on a laptop (the bound leaves room for a busy CI machine)."""
    records = truth["invoices"] * (120_000 // len(truth["invoices"]) + 1)
    started = time.perf_counter()
    frame = to_frame("invoices", records)
    took = time.perf_counter() - started
    assert len(frame) == len(records)
    assert took < 3.0, f"{took:.1f} s for {len(records)} rows"


def test_the_kits_core_never_imports_pandas() -> None:
    """The CLI's and the runner's import paths (and so the sync, which the Fivetran path shares) stay pandas-free;
    the runner reads the saved thread count through accelo_kit.tuned, so that must too; and the sweep itself
    (accelo_kit.notebook.tuning, plotting aside) needs none of them."""
    code = ("import sys, accelo_kit, accelo_kit.client, accelo_kit.sync, accelo_kit.runner, accelo_kit.tuned, "
            "accelo_kit.notebook.tuning, "
            "accelo_kit.cli; bad = [m for m in ('pandas', 'matplotlib', 'ipywidgets') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
