"""The explorer behind notebooks/explore.ipynb: what a Load click fetches, what it costs, and how the result is shown.

The notebook only lays out widgets; every callback is a thin method here, so a test can set widget values and
`click()` without a browser. Threads: the scan's workers only fetch; pages and budget-wait notices reach the
callback's own thread (the kernel's) through a queue, and only that thread touches widgets or displays anything.
"""

from __future__ import annotations

import contextlib
import html
import math
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from .client import AcceloClient
from .convert import RowConverter
from .entities import ENTITIES, entity
from .errors import AcceloError
from .frames import money_as_float, to_frame

LARGE_LOAD_REQUESTS = 100  # 2% of Accelo's hourly 5,000: above this a load waits for a second click
LARGE_LOAD_SHARE = 0.10  # ... as does one that would spend more than this share of what is left this window
DEFAULT_ROW_CAP = 10_000
PROGRESS_EVERY_S = 0.1  # widget updates at most this often (each one is a message to the browser)

# Accelo's standings per resource (accelo-api.md); invoices and payments have none
STANDINGS: dict[str, tuple[str, ...]] = {
    "companies": ("active", "inactive", "prospect"),
    "prospects": ("pending", "active", "won", "lost", "abandoned"),
    "jobs": ("pending", "active", "paused", "complete", "closed"),
    "staff": ("active", "inactive", "lockout"),
}
# which column of the left resource holds the right resource's id
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
# `against_id` points at whatever `against_type` names
AGAINST_TYPES = {"companies": "company", "jobs": "job", "invoices": "account_invoice"}
# money worth plotting over time: (amount column, the date it belongs to)
MONEY = {"invoices": ("amount", "date_raised"), "payments": ("amount", "date_created"),
         "prospects": ("value", "date_created"), "jobs": ("rate_charged", "date_created")}


# -- what to load ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadRequest:
    resource: str
    all_fields: bool = True  # False: Accelo's default fields only (no `_fields`)
    date_from: date | None = None  # inclusive, whole UTC days, on `date_field(resource)`
    date_to: date | None = None
    standing: str = ""
    row_cap: int = DEFAULT_ROW_CAP

    def __post_init__(self) -> None:
        entity(self.resource)
        if self.row_cap < 1:
            raise ValueError("row_cap must be at least 1")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"the date range is empty: {self.date_from} is after {self.date_to}")

    @property
    def fields(self) -> list[str] | None:
        """None: every registry field, by name; []: no `_fields`, so Accelo sends its defaults."""
        return None if self.all_fields else []

    def filters(self) -> list[str]:
        """Accelo's `_after`/`_before` are strict and whole-second: a day range becomes (start − 1 s, end + 1 day)."""
        out = []
        field_name = date_field(self.resource)
        if field_name and self.date_from:
            out.append(f"{field_name}_after({_epoch(self.date_from) - 1})")
        if field_name and self.date_to:
            out.append(f"{field_name}_before({_epoch(self.date_to + timedelta(days=1))})")
        standing = self.standing.strip()
        if standing and self.resource in STANDINGS:
            out.append(f"standing({standing})")
        return out


def date_field(resource: str) -> str | None:
    """The date a range filters on: the incremental cursor (date_modified; payments: date_created; staff: none)."""
    return entity(resource).cursor_field


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())


# -- what it costs -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadEstimate:
    request: LoadRequest
    matching: int  # rows the filters match (one /count)
    threads: int
    limit: int | None
    remaining: int | None
    reserve: int | None

    @property
    def rows(self) -> int:
        return min(self.matching, self.request.row_cap)

    @property
    def requests(self) -> int:
        """contract.md: a scan of N rows costs ⌈N/100⌉ + 1 per id range; most loads use one or two."""
        return math.ceil(self.rows / 100) + 1

    @property
    def at_most(self) -> int:
        """Every thread's range may end on one short page (or, for a capped load, one page still in flight)."""
        return math.ceil(self.rows / 100) + self.threads

    @property
    def large(self) -> bool:
        usable = None if self.remaining is None else self.remaining - (self.reserve or 0)
        return self.at_most > LARGE_LOAD_REQUESTS or (usable is not None and self.at_most > LARGE_LOAD_SHARE * usable)

    def describe(self) -> str:
        capped = f" (capped from {self.matching:,})" if self.rows < self.matching else ""
        text = (f"Loading {self.rows:,} {self.request.resource}{capped} costs about {self.requests:,} requests "
                f"(at most {self.at_most:,})")
        if self.limit:
            text += f", {self.requests / self.limit:.1%} of the hourly {self.limit:,}"
        if self.remaining is not None:
            text += f"; {self.remaining:,} left in this window"
        return text + "."


def estimate_load(client: AcceloClient, request: LoadRequest) -> LoadEstimate:
    """One `/count` request: how many rows match, before spending a page on them."""
    matching = client.count(request.resource, request.filters())
    stats = client.stats()
    return LoadEstimate(request, matching, client.settings.threads, stats.limit, stats.remaining, stats.reserve)


# -- loading ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadProgress:
    rows: int
    target_rows: int
    requests: int  # spent by this load so far, the /count included
    remaining: int | None  # what the server says is left this window
    note: str = ""  # e.g. a wait for the rate window

    def describe(self) -> str:
        left = "?" if self.remaining is None else f"{self.remaining:,}"
        text = f"{self.rows:,} / {self.target_rows:,} rows · {self.requests:,} requests · budget left {left}"
        return f"{text} · {self.note}" if self.note else text


@dataclass
class LoadResult:
    request: LoadRequest
    frame: pd.DataFrame
    matching: int
    requests: int  # pages fetched (the /count that estimated them not included)
    seconds: float
    problems: str = ""  # values that could not be converted (set to null), one line

    @property
    def capped(self) -> bool:
        return len(self.frame) < self.matching


ProgressListener = Callable[[LoadProgress], None]


def load_frame(client: AcceloClient, request: LoadRequest, estimate: LoadEstimate | None = None,
               on_progress: ProgressListener | None = None, poll_s: float = 0.25) -> LoadResult:
    """Fetch what `request` asks for as a typed DataFrame, calling `on_progress` on the caller's thread.

    A capped load stops the scan once it has enough rows; which rows it keeps are those whose pages arrived first
    (the scan walks id ranges in parallel), sorted by id.
    """
    started = time.monotonic()
    spent_before = client.stats().requests
    estimate = estimate or estimate_load(client, request)
    spec = entity(request.resource)
    events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
    stop = threading.Event()

    def waiting(seconds: float, reason: str) -> None:  # called on a scan worker: only enqueue
        events.put(("note", f"waiting {seconds:.0f} s for the {reason}"))

    def feed() -> None:  # moves pages from the scan to the queue; converting happens on the caller's thread
        pages = client.iter_pages(request.resource, request.filters(), request.fields)
        try:
            for page in pages:
                events.put(("page", page.rows))
                if stop.is_set():
                    break
        except BaseException as err:  # handed to the caller, who raises it
            events.put(("error", err))
        finally:
            pages.close()  # stops the scan's workers when we leave early
            events.put(("done", None))

    convert = RowConverter(spec.name, spec.column_types())
    records: list[dict[str, Any]] = []
    present: set[str] = set()
    note, shown_at = "", 0.0
    stop_waiting = client.add_hook("wait", waiting)
    feeder = threading.Thread(target=feed, name="accelo-explore-feed", daemon=True)
    feeder.start()
    try:
        while True:
            try:
                kind, item = events.get(timeout=poll_s)
            except queue.Empty:
                continue
            if kind == "error":
                raise item
            if kind == "done":
                break
            if kind == "note":
                note = item
            elif kind == "page" and len(records) < request.row_cap:
                for row in item:
                    present.update(row)
                records.extend(convert(row) for row in item)
                if len(records) >= request.row_cap:
                    stop.set()
            now = time.monotonic()
            if on_progress is not None and (now - shown_at >= PROGRESS_EVERY_S or kind == "note"):
                shown_at = now
                on_progress(_progress(client, records, estimate, spent_before, note))
    finally:
        stop.set()
        stop_waiting()
    feeder.join(timeout=5)
    records.sort(key=lambda r: r["id"])
    del records[request.row_cap:]
    columns = [c for c in spec.field_names if c in present] if records else list(spec.field_names)
    frame = to_frame(spec.name, records, columns)
    if on_progress is not None:
        on_progress(_progress(client, records, estimate, spent_before, ""))
    return LoadResult(request, frame, estimate.matching, client.stats().requests - spent_before,
                      time.monotonic() - started, convert.summary())


def _progress(client: AcceloClient, records: list[Any], estimate: LoadEstimate, spent_before: int,
              note: str) -> LoadProgress:
    stats = client.stats()
    return LoadProgress(min(len(records), estimate.rows), estimate.rows, stats.requests - spent_before,
                        stats.remaining, note)


# -- what a load shows ---------------------------------------------------------------------------------------------
@dataclass
class Profile:
    rows: int
    columns: pd.DataFrame  # per column: dtype, non-null, nulls
    value_counts: dict[str, pd.Series] = field(default_factory=dict)  # standing, status
    date_ranges: pd.DataFrame | None = None  # per timestamp column: first, last, unset


def profile(frame: pd.DataFrame) -> Profile:
    columns = pd.DataFrame({"dtype": frame.dtypes.astype(str), "non-null": frame.notna().sum(),
                            "nulls": frame.isna().sum()})
    counts = {c: frame[c].value_counts(dropna=False) for c in ("standing", "status") if c in frame.columns}
    stamps = [c for c in frame.columns if isinstance(frame[c].dtype, pd.DatetimeTZDtype)]
    ranges = pd.DataFrame({"first": [frame[c].min() for c in stamps], "last": [frame[c].max() for c in stamps],
                           "unset": [int(frame[c].isna().sum()) for c in stamps]}, index=stamps) if stamps else None
    return Profile(len(frame), columns, counts, ranges)


def monthly(frame: pd.DataFrame, date_column: str, value_column: str | None = None) -> pd.Series:
    """Rows (or the sum of a money column, as float) per calendar month (UTC) of `date_column`."""
    months = frame[date_column].dt.tz_localize(None).dt.to_period("M")
    if value_column is None:
        series = months.value_counts()
    else:
        series = money_as_float(frame[value_column]).groupby(months).sum()
    if series.empty:
        return series
    every = pd.period_range(series.index.min(), series.index.max(), freq="M")  # empty months show as gaps
    return series.reindex(every, fill_value=0)


def plot_frame(name: str, frame: pd.DataFrame) -> Any:
    """Rows per month of the resource's date field and, for money resources, the amount per month; for staff
    (no dates), rows per standing. Returns a matplotlib Figure, or None if there is nothing to plot."""
    import matplotlib.pyplot as plt

    panels: list[tuple[str, pd.Series, str]] = []
    when = date_field(name)
    if when and when in frame.columns and frame[when].notna().any():
        panels.append((f"{name} by month of {when}", monthly(frame, when), "rows"))
    amount, money_date = MONEY.get(name, (None, None))
    if amount in frame.columns and money_date in frame.columns and frame[money_date].notna().any():
        panels.append((f"{amount} by month of {money_date}", monthly(frame, money_date, amount), amount))
    if not panels and "standing" in frame.columns:
        panels.append((f"{name} by standing", frame["standing"].value_counts(), "rows"))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 3.2), squeeze=False)
    for ax, (title, series, ylabel) in zip(axes[0], panels, strict=True):
        labels = [str(i) for i in series.index]
        ax.bar(range(len(series)), series.to_numpy(dtype=float), color="tab:blue")
        step = max(1, len(labels) // 12)
        ax.set_xticks(range(0, len(labels), step), labels[::step], rotation=45, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel)
    fig.tight_layout()
    return fig


# -- joins ---------------------------------------------------------------------------------------------------------
def join_columns(left: str, frame: pd.DataFrame) -> list[str]:
    """Columns of a loaded resource that can hold another row's id (int and link fields, not its own id)."""
    kinds = dict(entity(left).column_types())
    return [c for c in frame.columns if kinds.get(c) in ("int", "link") and c != entity(left).primary_key]


def suggest_join(left: str, right: str, frame: pd.DataFrame) -> str | None:
    hint = JOIN_HINTS.get((left, right))
    return hint if hint in frame.columns else None


@dataclass
class JoinResult:
    frame: pd.DataFrame
    matched: int
    left: str
    right: str
    on: str

    def describe(self) -> str:
        return (f"{self.left} ⋈ {self.right} on {self.left}.{self.on} = {self.right}.id: {self.matched:,} of "
                f"{len(self.frame):,} {self.left} rows matched")


def join_frames(left: str, left_frame: pd.DataFrame, on: str, right: str, right_frame: pd.DataFrame) -> JoinResult:
    """Every left row, with the right row whose id its `on` column holds; right columns are prefixed
    `right.`. An `against_id` only matches where `against_type` names the right resource."""
    if on not in left_frame.columns:
        raise KeyError(f"{left} has no loaded column {on!r}")
    key = left_frame[on]
    if on == "against_id" and "against_type" in left_frame.columns and right in AGAINST_TYPES:
        key = key.where(left_frame["against_type"] == AGAINST_TYPES[right])
    prefixed = right_frame.add_prefix(f"{right}.")
    right_id = f"{right}.{entity(right).primary_key}"
    joined = left_frame.assign(__key=key.astype(pd.Int64Dtype())).merge(
        prefixed, how="left", left_on="__key", right_on=right_id, validate="many_to_one").drop(columns="__key")
    return JoinResult(joined, int(joined[right_id].notna().sum()), left, right, on)


# -- the widgets ---------------------------------------------------------------------------------------------------
class Explorer:
    """The widgets and their callbacks. Build one with `Explorer.connect(...)`; `widget` is what to display."""

    def __init__(self, client: AcceloClient, label: str, simulated: bool, *, row_cap: int = DEFAULT_ROW_CAP,
                 resource: str = "companies") -> None:
        import ipywidgets as w

        self.client, self.label, self.simulated = client, label, simulated
        self.frames: dict[str, pd.DataFrame] = {}
        self.results: dict[str, LoadResult] = {}
        self.joined: JoinResult | None = None
        self.pending: LoadRequest | None = None  # a large load shown, waiting for a second click
        self.error: BaseException | None = None
        self._stack: contextlib.ExitStack | None = None

        colour = "#b45309" if simulated else "#166534"
        self.header = w.HTML(f"<div style='padding:4px 8px;border-left:4px solid {colour}'><b>Source:</b> "
                             f"{html.escape(label)} · {client.settings.threads} threads</div>")
        self.resource = w.Dropdown(options=list(ENTITIES), value=resource, description="resource")
        self.fields = w.ToggleButtons(options=[("all fields", "all"), ("Accelo's defaults", "defaults")],
                                      value="all", description="fields", style={"button_width": "auto"})
        wide = {"description_width": "initial"}
        self.date_from = w.DatePicker(description="from", style=wide)
        self.date_to = w.DatePicker(description="to", style=wide)
        self.standing = w.Combobox(placeholder="any", description="standing", ensure_option=False)
        self.row_cap = w.BoundedIntText(value=row_cap, min=1, max=10_000_000, description="row cap")
        self.load_button = w.Button(description="Load", button_style="primary", icon="download")
        self.progress = w.IntProgress(value=0, min=0, max=1, description="progress")
        self.status = w.HTML()
        self.output = w.Output()
        self.join_left = w.Dropdown(options=[], description="join")
        self.join_on = w.Dropdown(options=[], description="on")
        self.join_right = w.Dropdown(options=[], description="with")
        self.join_button = w.Button(description="Join", icon="link")
        self.join_output = w.Output()

        self.resource.observe(self._on_resource_change, names="value")
        self.join_left.observe(self._on_join_change, names="value")
        self.join_right.observe(self._on_join_change, names="value")
        self.load_button.on_click(self._on_load_click)
        self.join_button.on_click(self._on_join_click)
        self._on_resource_change()

        row = w.HBox
        self.widget = w.VBox([
            self.header,
            row([self.resource, self.row_cap]),
            self.fields,
            row([self.date_from, self.date_to]),
            row([self.standing, self.load_button]),
            row([self.progress, self.status]),
            self.output,
            w.HTML("<b>Join two loaded resources by id</b>"),
            row([self.join_left, self.join_on, self.join_right, self.join_button]),
            self.join_output,
        ])

    @classmethod
    def connect(cls, config_path: str = "", threads: int = 0, *,
                simulator_settings: Mapping[str, Any] | None = None, **kwargs: Any) -> Explorer:
        """config_path "" → the embedded simulator (SIMULATED data); "env" → ACCELO_* variables; else a
        configuration.json. threads 0 → the configuration's, or the saved tuning (out/tuning.json)."""
        from .runner import open_target

        simulate = config_path.strip() == ""
        path = None if simulate or config_path.strip() == "env" else Path(config_path.strip()).expanduser()
        stack = contextlib.ExitStack()
        try:
            target = stack.enter_context(open_target(path, simulate, {"threads": str(threads) if threads else None},
                                                     simulator_settings=simulator_settings))
            client = stack.enter_context(AcceloClient(target.settings))
            explorer = cls(client, target.label, target.simulated, **kwargs)
        except BaseException:
            stack.close()
            raise
        explorer._stack = stack
        return explorer

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def __enter__(self) -> Explorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- callbacks (thin: they read widgets and call the functions above) ----------------------------------
    def request(self) -> LoadRequest:
        return LoadRequest(self.resource.value, self.fields.value == "all", self.date_from.value, self.date_to.value,
                           self.standing.value or "", int(self.row_cap.value))

    def _on_resource_change(self, _change: Any = None) -> None:
        name = self.resource.value
        when = date_field(name)
        for picker in (self.date_from, self.date_to):
            picker.disabled = when is None
        self.date_from.description = f"{when or 'no date'} from"
        self.standing.options = STANDINGS.get(name, ())
        self.standing.disabled = name not in STANDINGS
        if self.standing.disabled:
            self.standing.value = ""
        self.pending = None
        self.load_button.description = "Load"

    def _on_load_click(self, _button: Any = None) -> None:
        self.click_load()

    def click_load(self) -> LoadResult | None:
        """Estimate (one /count), ask for a second click if the load is large, else load and show it."""
        try:
            request = self.request()
        except ValueError as err:
            self._say(str(err), error=True)
            return None
        return self.run(request, confirmed=self.pending == request, into=self.output)

    def run(self, request: LoadRequest, confirmed: bool = False, into: Any = None) -> LoadResult | None:
        """The Load button's work; `into` is where the result is shown (the widget's output, or None for the
        caller's cell)."""
        self.error = None
        self.load_button.disabled = True
        me = threading.get_ident()

        def counting_wait(seconds: float, reason: str) -> None:  # the /count runs on this thread: say it here
            if threading.get_ident() == me:
                self._say(f"waiting {seconds:.0f} s for the {reason} before counting {request.resource}")

        stop_counting_wait = self.client.add_hook("wait", counting_wait)
        try:
            self._say(f"counting {request.resource} …")
            try:
                estimate = estimate_load(self.client, request)
            finally:
                stop_counting_wait()
            self._say(estimate.describe())
            if estimate.large and not confirmed:
                self.pending = request
                self.load_button.description = f"Load anyway (≈{estimate.requests:,} requests)"
                self._say(estimate.describe() + " That is a large load: click again to spend it.")
                return None
            self.pending = None
            self.load_button.description = "Load"
            self.progress.max, self.progress.value = max(1, estimate.rows), 0
            result = load_frame(self.client, request, estimate, on_progress=self._show_progress)
        except AcceloError as err:
            self.error = err
            self._say(f"{type(err).__name__}: {err}", error=True)
            return None
        finally:
            self.load_button.disabled = False
        self.results[request.resource] = result
        self.frames[request.resource] = result.frame
        self._say(f"Loaded {len(result.frame):,} {request.resource} with {result.requests:,} requests (and 1 to "
                  f"count them) in {result.seconds:.1f} s. {estimate.describe()}")
        self._refresh_join_options()
        if into is not None:
            into.clear_output(wait=True)
            with into:
                self.show(result)
        return result

    def load(self, resource: str, **options: Any) -> LoadResult | None:
        """Load without clicking (a headless run's `autoload`): the same path as the button, confirmed."""
        self.resource.value = resource
        request = replace(self.request(), resource=resource, **options)
        return self.run(request, confirmed=True)

    def show(self, result: LoadResult) -> None:
        """The typed DataFrame, its profile and a plot, displayed where the caller is (a cell or an Output)."""
        from IPython.display import HTML, display

        name, frame = result.request.resource, result.frame
        simulated = " · <b>SIMULATED data</b>" if self.simulated else ""
        capped = f" (capped; {result.matching:,} match)" if result.capped else ""
        display(HTML(f"<h4>{name}: {len(frame):,} rows × {frame.shape[1]} columns{capped}{simulated}</h4>"))
        with pd.option_context("display.max_rows", 20, "display.min_rows", 10, "display.max_columns", 40):
            display(frame)
        if result.problems:
            display(HTML(f"<p style='color:#b45309'>{html.escape(result.problems)}</p>"))
        facts = profile(frame)
        display(HTML("<h4>Profile</h4>"))
        display(facts.columns)
        for column, counts in facts.value_counts.items():
            display(counts.rename_axis(column).to_frame("rows").T)
        if facts.date_ranges is not None:
            display(facts.date_ranges)
        figure = plot_frame(name, frame)
        if figure is not None:
            import matplotlib.pyplot as plt

            display(figure)
            plt.close(figure)

    def _show_progress(self, progress: LoadProgress) -> None:
        self.progress.max = max(1, progress.target_rows)
        self.progress.value = min(progress.rows, self.progress.max)
        self.status.value = html.escape(progress.describe())

    def _say(self, text: str, error: bool = False) -> None:
        style = " style='color:#b91c1c'" if error else ""
        self.status.value = f"<span{style}>{html.escape(text)}</span>"

    # -- joins ------------------------------------------------------------------------------------------------
    def _refresh_join_options(self) -> None:
        loaded = list(self.frames)
        for dropdown in (self.join_left, self.join_right):
            current = dropdown.value
            dropdown.options = loaded
            dropdown.value = current if current in loaded else None
        if self.join_left.value is None and loaded:
            self.join_left.value = loaded[-1]
        if (self.join_right.value is None or self.join_right.value == self.join_left.value) and len(loaded) > 1:
            self.join_right.value = next(n for n in loaded if n != self.join_left.value)
        self._on_join_change()

    def _on_join_change(self, _change: Any = None) -> None:
        left, right = self.join_left.value, self.join_right.value
        if left is None or left not in self.frames:
            self.join_on.options = []
            return
        columns = join_columns(left, self.frames[left])
        self.join_on.options = columns
        hint = suggest_join(left, right, self.frames[left]) if right else None
        self.join_on.value = hint if hint in columns else (columns[0] if columns else None)

    def _on_join_click(self, _button: Any = None) -> None:
        self.join_output.clear_output(wait=True)
        with self.join_output:
            self.join(self.join_left.value, self.join_on.value, self.join_right.value, show=True)

    def join(self, left: str, on: str, right: str, show: bool = False) -> JoinResult | None:
        if left not in self.frames or right not in self.frames or not on:
            self._say("load both resources first, then pick the column holding the other's id", error=True)
            return None
        self.joined = join_frames(left, self.frames[left], on, right, self.frames[right])
        self._say(self.joined.describe())
        if show:
            from IPython.display import HTML, display

            display(HTML(f"<h4>{html.escape(self.joined.describe())}</h4>"))
            with pd.option_context("display.max_rows", 20, "display.min_rows", 10, "display.max_columns", 40):
                display(self.joined.frame)
        return self.joined

