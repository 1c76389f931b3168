"""The explorer behind notebooks/explore.ipynb: the widgets and their callbacks (docs/notebooks.md).

The notebook only lays out widgets; every callback is a thin method here over the functions of `load`, `profile`,
`plots` and `joins`, so a test can set widget values and `click()` without a browser. Only the kernel's thread (the
one a callback runs on) touches widgets or displays anything; see `load` for how pages reach it.
"""

from __future__ import annotations

import contextlib
import html
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import pandas as pd

from ...client import AcceloClient
from ...config import config_source
from ...entities import ENTITIES, STANDINGS
from ...errors import AcceloError
from ...runner import open_target
from .joins import JoinResult, join_columns, join_frames, suggest_join
from .load import (
    DEFAULT_ROW_CAP,
    LoadProgress,
    LoadRequest,
    LoadResult,
    date_field,
    estimate_load,
    load_frame,
)
from .plots import plot_frame
from .profile import profile


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
    def connect(cls, config_path: str = "", threads: int = 0, *, budget_policy: str = "",
                simulator_settings: Mapping[str, Any] | None = None, **kwargs: Any) -> Explorer:
        """config_path "" → the embedded simulator (SIMULATED data); "env" → ACCELO_* variables; else a
        configuration.json. threads 0 → the configuration's, or the saved tuning (out/tuning.json).
        budget_policy "" → the configuration's (adaptive unless it says fixed)."""
        source = config_source(config_path)
        stack = contextlib.ExitStack()
        try:
            target = stack.enter_context(open_target(source.path, source.simulate,
                                                     {"threads": str(threads) if threads else None,
                                                      "budget_policy": budget_policy},
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

    # -- callbacks (thin: they read widgets and call load, profile, plots, joins) ----------------------------------
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

        stop_waiting = self.client.add_hook("wait", counting_wait)
        try:
            self._say(f"counting {request.resource} …")
            try:
                estimate = estimate_load(self.client, request)
            finally:
                stop_waiting()
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
                  f"count them) in {result.seconds:.1f} s. {estimate.describe()} {result.budget_note()}")
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
        name, frame = result.request.resource, result.frame
        simulated = " · <b>SIMULATED data</b>" if self.simulated else ""
        capped = f" (capped; {result.matching:,} match)" if result.capped else ""
        _display_html(f"<h4>{name}: {len(frame):,} rows × {frame.shape[1]} columns{capped}{simulated}</h4>")
        with pd.option_context("display.max_rows", 20, "display.min_rows", 10, "display.max_columns", 40):
            _display(frame)
        if result.problems:
            _display_html(f"<p style='color:#b45309'>{html.escape(result.problems)}</p>")
        facts = profile(frame)
        _display_html("<h4>Profile</h4>")
        _display(facts.columns)
        for column, counts in facts.value_counts.items():
            _display(counts.rename_axis(column).to_frame("rows").T)
        if facts.date_ranges is not None:
            _display(facts.date_ranges)
        figure = plot_frame(name, frame)
        if figure is not None:
            import matplotlib.pyplot as plt

            _display(figure)
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
            _display_html(f"<h4>{html.escape(self.joined.describe())}</h4>")
            with pd.option_context("display.max_rows", 20, "display.min_rows", 10, "display.max_columns", 40):
                _display(self.joined.frame)
        return self.joined


def _display(item: Any) -> None:
    """IPython's `display` (which has no type hints), where the caller is: a cell or an Output widget."""
    from IPython import display as ipython

    show: Callable[[Any], None] = ipython.display
    show(item)


def _display_html(markup: str) -> None:
    from IPython import display as ipython

    as_html: Callable[[str], Any] = ipython.HTML
    _display(as_html(markup))
