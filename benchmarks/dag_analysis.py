"""Dependency analysis of 1,000 realistic blocks: time cold (nothing cached) and warm.

The blocks come from templates of typical data-work cells (imports, loading, cleaning with
pandas, feature code, functions, model fitting, plots, a few IPython magics), with names
varied per block so that no two sources are the same. Baseline: ``ast.parse`` of the same
sources (magics already translated to Python), the floor any AST-based analysis pays; the
ratio says what the analysis adds.

    .venv/bin/python benchmarks/dag_analysis.py [--n 1000] [--repeat 5]
"""

# ruff: noqa: E501  (the cell templates below are kept one per line)
from __future__ import annotations

import argparse
import ast
import statistics
import time

from ai_notebook_ext.dag.analysis import analyze, transform_ipython

GOAL_MS = 200.0

TEMPLATES = [
    "import pandas as pd\nimport numpy as np{i}",
    "df{i} = pd.read_csv(path_{i}, parse_dates=['date'])\ndf{i}.head()",
    "df{i} = df{j}.dropna(subset=['amount'])\ndf{i}['month'] = df{i}['date'].dt.month",
    "df{j}.sort_values('date', inplace=True)\ndf{j}.reset_index(drop=True, inplace=True)",
    "summary_{i} = (\n    df{j}.groupby(['region', 'month'])\n    .agg(total=('amount', 'sum'), n=('id', 'count'))\n    .reset_index()\n)",
    "def clean_{i}(frame, cols=COLS_{j}):\n    out = frame.copy()\n    for c in cols:\n        out[c] = out[c].str.strip().str.lower()\n    return out",
    "features_{i} = [c for c in df{j}.columns if c.startswith('f_') and c not in drop_{j}]\nX_{i} = df{j}[features_{i}]\ny_{i} = df{j}['target']",
    "from sklearn.model_selection import train_test_split\nX_train_{i}, X_test_{i}, y_train_{i}, y_test_{i} = train_test_split(X_{j}, y_{j}, test_size=0.2, random_state=0)",
    "model_{i} = RandomForestClassifier(n_estimators=200, n_jobs=-1)\nmodel_{i}.fit(X_train_{j}, y_train_{j})\nscore_{i} = model_{i}.score(X_test_{j}, y_test_{j})\nprint(f'accuracy: {{score_{i}:.3f}}')",
    "fig, ax = plt.subplots(figsize=(8, 4))\nax.plot(summary_{j}['month'], summary_{j}['total'])\nax.set_title('Total by month')\nplt.show()",
    "%matplotlib inline\nimport matplotlib.pyplot as plt{i}",
    "counts_{i} = {{}}\nfor row in rows_{j}:\n    counts_{i}[row.key] = counts_{i}.get(row.key, 0) + 1",
    "try:\n    cfg_{i} = load_config(cfg_path_{j})\nexcept FileNotFoundError as exc:\n    cfg_{i} = DEFAULTS\n    print('using defaults:', exc)",
    "total_{j} += batch_{i}.sum()\nhistory_{j}.append(total_{j})",
    "merged_{i} = df{j}.merge(lookup_{j}, on='id', how='left')\nmerged_{i}['ratio'] = merged_{i}['a'] / merged_{i}['b'].replace(0, np.nan)",
    "%%time\nresult_{i} = heavy_{j}(data_{j})",
]


def make_blocks(n: int) -> list[str]:
    return [TEMPLATES[i % len(TEMPLATES)].format(i=i, j=max(i - 1, 0)) for i in range(n)]


def time_once(blocks: list[str], fn) -> float:
    start = time.perf_counter()
    for source in blocks:
        fn(source)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    blocks = make_blocks(args.n)
    assert len(set(blocks)) == len(blocks)
    for source in blocks:  # every template is valid and analyzable
        assert analyze(source).error is None, source
    analyze("x = 1")  # imports done
    python = [s if s.lstrip()[:1] != "%" else transform_ipython(s) for s in blocks]

    cold, parse = [], []
    for _ in range(args.repeat):
        analyze.cache_clear()
        cold.append(time_once(blocks, analyze))
        parse.append(time_once(python, ast.parse))
    warm = time_once(blocks, analyze)
    cold_ms = statistics.median(cold) * 1000
    parse_ms = statistics.median(parse) * 1000
    lines = sum(s.count("\n") + 1 for s in blocks)
    print(f"{args.n} blocks, {lines} lines, median of {args.repeat} runs")
    print(f"baseline ast.parse only           {parse_ms:8.1f} ms")
    print(f"analysis, cold (nothing cached)   {cold_ms:8.1f} ms")
    print(f"analysis, warm (cached by source) {warm * 1000:8.1f} ms")
    print(f"ratio cold analysis / ast.parse   {cold_ms / parse_ms:8.2f}x")
    verdict = "met" if cold_ms < GOAL_MS else "NOT met"
    print(f"goal: {args.n} blocks < {GOAL_MS:.0f} ms cold: {verdict}")


if __name__ == "__main__":
    main()
