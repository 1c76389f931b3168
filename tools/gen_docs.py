"""`make docs`: rewrite the generated blocks of the docs pages from the code, so long tables cannot drift from it.

A block sits between `<!-- generated: NAME -->` and `<!-- end generated -->` in a page under docs/; everything
outside the markers is written by hand and left alone. tests/test_docs.py re-generates every block in memory and
fails when a page differs. `python tools/gen_docs.py --check` does the same from the shell.

Blocks: `config-keys` (accelo_kit/config.py), `resources` (accelo_kit/entities.py), `module-map` (every module of
accelo_kit, placed by the layers block of docs/architecture.md), `cli-flags` (accelo_kit.cli.build_parser),
`notebook-params:NAME` (the parameters cell of the notebook's jupytext twin, NAME.py in notebooks/),
`bench-figures` (bench/results/latest.json).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import fnmatch
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PACKAGE = "accelo_kit"
BLOCK = re.compile(r"(<!-- generated: (?P<name>[a-z0-9:_-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)
LAYERS_BLOCK = re.compile(r"```layers\n(?P<body>.*?)```", re.S)
LAYER_LINE = re.compile(r"^(?P<rank>\d+) (?P<name>[a-z]+): (?P<globs>.+)$")
STACK_LINE = re.compile(r"^separate (?P<name>[a-z]+) \(imported only from (?P<user>[a-z]+)\): (?P<globs>.+)$")

# What each configuration key means, for keys whose field in Settings carries no `metadata={"doc": ...}`. The
# field's own metadata wins: move a sentence from here into config.py and this table shrinks. A key missing from
# both, or a sentence here for a key Settings does not have, fails the generator.
# -- blocks -------------------------------------------------------------------------------------------------------
def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, (tuple, list)):
        return "`" + ",".join(str(v) for v in value) + "`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


def config_keys() -> str:
    from accelo_kit import config

    env_by_key = {key: var for key, var in config.ENV_KEYS.items()}
    rows = ["| key | default | environment | meaning |", "|---|---|---|---|"]
    for f in dataclasses.fields(config.Settings):
        doc = f.metadata.get("doc")
        if not doc:
            raise SystemExit(f"configuration key {f.name} has no description: give its field in "
                             "accelo_kit/config.py metadata=_doc(...)")
        if f.default is not dataclasses.MISSING:
            default = _default(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = _default(f.default_factory())
        else:
            default = "required"
        env = f"`{env_by_key[f.name]}`" if f.name in env_by_key else ""
        rows.append(f"| `{f.name}` | {default} | {env} | {_cell(doc)} |")
    return "\n".join(rows) + "\n"


def resources() -> str:
    from accelo_kit.entities import ENTITIES, STRATEGIES

    rows = ["| resource (table) | strategy | what each run fetches | primary key | columns |", "|---|---|---|---|---|"]
    for entity in ENTITIES.values():
        columns = ", ".join(f"{c.name} ({c.type})" for c in entity.columns)
        rows.append(f"| `{entity.name}` | `{entity.strategy}` | {_cell(STRATEGIES[entity.strategy])} | "
                    f"`{entity.primary_key}` | {columns} |")
    return "\n".join(rows) + "\n"


@dataclasses.dataclass(frozen=True)
class Layers:
    """The layer order of docs/architecture.md: ranked layers lowest first, then separate stacks."""

    ranked: list[tuple[str, list[str]]]
    separate: list[tuple[str, str, list[str]]]  # (name, the only layer that may import it, globs)

    def place(self, module: str) -> str | None:
        for name, globs in self.ranked:
            if any(fnmatch.fnmatchcase(module, g) for g in globs):
                return name
        for name, _, globs in self.separate:
            if any(fnmatch.fnmatchcase(module, g) for g in globs):
                return name
        return None

    def rank(self, layer: str) -> int | None:
        return next((i for i, (name, _) in enumerate(self.ranked) if name == layer), None)


def read_layers(text: str | None = None) -> Layers:
    """Parse the one `layers` block of docs/architecture.md."""
    text = (DOCS / "architecture.md").read_text() if text is None else text
    blocks = LAYERS_BLOCK.findall(text)
    if len(blocks) != 1:
        raise ValueError(f"docs/architecture.md must hold exactly one ```layers block, found {len(blocks)}")
    ranked: list[tuple[str, list[str]]] = []
    separate: list[tuple[str, str, list[str]]] = []
    for line in blocks[0].splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if match := LAYER_LINE.match(line):
            if int(match["rank"]) != len(ranked) + 1:
                raise ValueError(f"layers block: {line!r} is out of order")
            ranked.append((match["name"], match["globs"].split()))
        elif match := STACK_LINE.match(line):
            separate.append((match["name"], match["user"], match["globs"].split()))
        else:
            raise ValueError(f"layers block: cannot read {line!r}")
    return Layers(ranked, separate)


def module_files(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, for its __init__.py)."""
    found: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if "__pycache__" in parts:
            continue
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def summary(path: Path) -> str:
    """The first sentence of a module's docstring (its summary line, joined if it wraps)."""
    doc = ast.get_docstring(ast.parse(path.read_text()), clean=True) or ""
    paragraph = " ".join(doc.split("\n\n")[0].split())
    match = re.match(r"(.+?\.)(?:\s|$)", paragraph)
    return match.group(1) if match else paragraph


def module_map() -> str:
    layers = read_layers()
    rows = ["| module | layer | what it is |", "|---|---|---|"]
    for name, path in module_files().items():
        rows.append(f"| `{name}` | {layers.place(name) or '**not placed**'} | {_cell(summary(path))} |")
    return "\n".join(rows) + "\n"


def parser_flags() -> Iterator[tuple[str, str, str]]:
    """(command, flag, help) for every option of `accelo-kit`, subcommands included."""
    from accelo_kit.cli import build_parser

    def walk(parser: argparse.ArgumentParser, command: str) -> Iterator[tuple[str, str, str]]:
        # argparse offers no public list of a parser's options: read its instance dict rather than a private name
        for action in vars(parser)["_actions"]:
            choices = action.choices
            if not action.option_strings and isinstance(choices, dict):  # the subcommands
                for name, sub in choices.items():
                    yield from walk(sub, f"{command} {name}".strip())
            elif action.option_strings and action.dest != "help":
                for flag in action.option_strings:
                    yield command, flag, action.help or ""

    yield from walk(build_parser(), "")


def cli_flags() -> str:
    rows = ["| command | option | what it does |", "|---|---|---|"]
    for command, flag, text in parser_flags():
        rows.append(f"| `accelo-kit{' ' + command if command else ''}` | `{flag}` | {_cell(text)} |")
    return "\n".join(rows) + "\n"


@dataclasses.dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    default: str
    doc: str


def notebook_parameters(notebook: str) -> list[Parameter]:
    """The `parameters` cell of a notebook's jupytext twin (NAME.py in notebooks/): `name: type = default  # doc`."""
    text = (ROOT / "notebooks" / f"{notebook}.py").read_text()
    match = re.search(r'^# %% tags=\["parameters"\]\n(?P<cell>.*?)(?=^# %%)', text, re.S | re.M)
    if not match:
        raise ValueError(f"notebooks/{notebook}.py has no parameters cell")
    found = []
    for line in match["cell"].splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        code, _, doc = line.partition("  # ")
        node = ast.parse(code).body[0]
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name) or node.value is None:
            raise ValueError(f"notebooks/{notebook}.py: parameter line {line!r} is not `name: type = default`")
        default = ast.get_source_segment(code, node.value) or ast.unparse(node.value)
        found.append(Parameter(node.target.id, ast.unparse(node.annotation), default, doc.strip()))
    return found


def notebook_params(notebook: str) -> str:
    rows = ["| parameter | type | default | meaning |", "|---|---|---|---|"]
    for p in notebook_parameters(notebook):
        rows.append(f"| `{p.name}` | {p.type} | `{_cell(p.default)}` | {_cell(p.doc)} |")
    return "\n".join(rows) + "\n"


def bench_figures() -> str:
    data = json.loads((ROOT / "bench" / "results" / "latest.json").read_text())
    lat, econ, rate = data["latency_bound"], data["request_economy"], data["rate_bound"]
    mem, cpu, scaling, skew = data["memory"], data["cpu"], data["scaling"], data.get("skewed", {})
    machine = data.get("machine", {})
    base = lat.get("baseline_threads_1", {})
    sim = data.get("simulator", {})
    rows = [
        f"Measured on {machine.get('cores', '?')} cores, Python {machine.get('python', '?')}"
        f"{' (quick run)' if data.get('quick') else ''}; the simulator at {sim.get('latency_ms', '?'):g} ms "
        f"+ {sim.get('per_row_ms', '?'):g} ms a row, {sim.get('workers', '?')} workers.",
        "",
        "| workload | figure | goal |",
        "|---|---|---|",
        f"| 1. full sync, {lat['rows']:,} rows, threads {lat['threads']} | efficiency **{lat['efficiency']:.2f}** "
        f"({lat['wall_s']:.1f} s against {lat['ideal_s']:.1f} s ideal); {lat.get('speedup_vs_threads_1', 0):.1f}× "
        f"faster than threads=1 ({base.get('wall_s', 0):.1f} s) | ≥ 0.90 |",
        f"| 2. request economy | **{econ['requests_per_1000_rows']:.2f}** requests per 1,000 rows "
        f"({econ['requests']:,} for a floor of {econ['physical_minimum']:,} pages); no-change re-run "
        f"**{econ['no_change_rerun_requests']}** requests, formula {econ['no_change_formula']} | ≤ 10.3 |",
        f"| 3. rate-bound, {rate['limit']} requests per {rate['window_s']:g} s window | "
        f"{', '.join(str(n) for n in rate['used_per_window'])} requests per window against an allowance of "
        f"{rate['allowance']}: **{rate['use_of_allowance_full_windows']:.2f}** of it; "
        f"**{rate['throttled_429']}** 429s | ≥ 0.95, no 429 |",
        f"| 4. memory, peak RSS of a sync | {mem['rows_20000']['peak_rss_mb']:.1f} MB at "
        f"{mem['rows_20000']['rows']:,} rows, {mem['rows_200000']['peak_rss_mb']:.1f} MB at "
        f"{mem['rows_200000']['rows']:,} rows: **{mem['ratio']:.2f}** | ≤ 1.3 |",
        "| 5. CPU, converter rows/s on one core | "
        + ", ".join(f"{name} {v['convert_rows_per_s'] / 1000:.0f}k" for name, v in cpu.items())
        + " | reported |",
        "| 6. thread scaling, efficiency by threads | "
        + ", ".join(f"{r['threads']}: {r['efficiency']:.2f}" for r in scaling["by_threads"])
        + " | no collapse |",
    ]
    if skew:
        rows.append(f"| 7. skewed ids (90% of rows in 10% of the span) | efficiency {skew['efficiency']:.2f}, "
                    f"**{skew['difference']:.2f}** below uniform ({skew['uniform_efficiency']:.2f}) | ≤ 0.05 |")
    rows += _neighbour_figures(data.get("neighbours"))
    return "\n".join(rows) + "\n"


def _neighbour_figures(n8: dict[str, Any] | None) -> list[str]:
    """Workload 8's rows: the policy's cost alone, and what a steady and a bursty neighbour were refused."""
    if not n8:
        return []
    eff = n8["latency_bound_efficiency"]
    rows = [f"| 8. neighbours: workload 1, adaptive policy against fixed (median of 3) | efficiency "
            f"{eff['median']['adaptive']:.2f} against {eff['median']['fixed']:.2f}: "
            f"**{eff['adaptive_over_fixed']:.2f}** | ≥ 0.95 |"]
    for kind, w in n8["by_window"].items():
        steady, burst = w["steady_adaptive"], w["burst_adaptive"]
        rows += [
            f"| 8. {kind} window, {n8['limit']} per {n8['window_s']:g} s, no neighbour | time adaptive / fixed "
            f"(median of 3) **{w['alone_adaptive_over_fixed']:.2f}** | ≤ 1.05 |",
            f"| 8. {kind}, steady neighbour at 40% | neighbour refused **{steady['neighbour_429']}** of "
            f"{steady['neighbour_sent']} (fixed policy: {w['steady_fixed']['neighbour_429']} of "
            f"{w['steady_fixed']['neighbour_sent']}); kit 429s {steady['kit_429']}; kit's share of full windows "
            f"{', '.join(f'{x:.2f}' for x in steady['kit_share_full_windows'])}; time {steady['time_over_alone']:.2f}× "
            f"alone | ≤ 2 refused, no 429 |",
            f"| 8. {kind}, bursty neighbour (30% in 3 s) | neighbour refused **{burst['neighbour_429']}** of "
            f"{burst['neighbour_sent']} (fixed policy: {w['burst_fixed']['neighbour_429']} of "
            f"{w['burst_fixed']['neighbour_sent']}); kit 429s {burst['kit_429']}; time {burst['time_over_alone']:.2f}× "
            f"alone | ≤ 2 refused, no 429 |",
        ]
    return rows


def generator(name: str) -> Callable[[], str]:
    fixed: dict[str, Callable[[], str]] = {
        "config-keys": config_keys, "resources": resources, "module-map": module_map, "cli-flags": cli_flags,
        "bench-figures": bench_figures,
    }
    if name in fixed:
        return fixed[name]
    if name.startswith("notebook-params:"):
        notebook = name.split(":", 1)[1]
        return lambda: notebook_params(notebook)
    raise ValueError(f"unknown generated block {name!r}")


# -- pages --------------------------------------------------------------------------------------------------------
def regenerate(text: str) -> str:
    """The page with every generated block rewritten from the code."""
    return BLOCK.sub(lambda m: m.group(1) + generator(m["name"])() + m.group(4), text)


def pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def stale_pages() -> list[Path]:
    return [page for page in pages() if regenerate(page.read_text()) != page.read_text()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a page is out of date")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    stale = stale_pages()
    for page in stale:
        if args.check:
            print(f"{page.relative_to(ROOT)} is out of date: run make docs")
        else:
            page.write_text(regenerate(page.read_text()))
            print(f"rewrote {page.relative_to(ROOT)}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
