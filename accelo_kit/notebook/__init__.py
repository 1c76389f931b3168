"""The notebook side of the kit (needs the `notebooks` extra: pandas, matplotlib, ipywidgets): typed DataFrames
(`frames`), the explorer (`explore`) and the thread-count sweep (`tuning`). Nothing below the shells imports it;
the saved thread count the CLI reads lives in `accelo_kit.tuned`, which needs none of this.

Importing this package imports nothing heavy: each subpackage brings in what it needs."""
