"""Quick profiles checked against pandas computations on the same data, in each format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ai_notebook_ext.datasets.formats import detect, inspect
from ai_notebook_ext.datasets.profile import HISTOGRAM_BINS, kind_of, quick_profile


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 5000
    amount = rng.normal(100, 15, n).round(3)
    amount[rng.choice(n, 250, replace=False)] = np.nan
    city = rng.choice(["Lima", "Oslo", "Pune", "Kyiv", None], n, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    frame = pd.DataFrame(
        {
            "id": np.arange(n),
            "qty": rng.integers(0, 50, n),
            "amount": amount,
            "city": city,
            "paid": rng.choice([True, False], n),
            "day": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), "D"),
        }
    )
    return pd.concat([frame, frame.head(37)], ignore_index=True)  # 37 duplicate rows


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_profile_matches_pandas(frame, fmt, tmp_path):
    path = tmp_path / f"data.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True, date_format="iso")
    assert detect(str(path), path.name) == fmt
    schema = inspect(str(path), fmt)
    assert schema.row_count == len(frame)
    profile = quick_profile(str(path), fmt)
    assert profile["row_count"] == len(frame)
    assert profile["duplicate_rows"] == int(frame.duplicated().sum()) == 37
    cols = {c["name"]: c for c in profile["columns"]}
    assert list(cols) == list(frame.columns)
    for name in frame.columns:
        series = frame[name]
        col = cols[name]
        assert col["nulls"] == int(series.isna().sum()), name
        assert col["count"] == int(series.count()), name
        assert col["distinct"] == int(series.nunique()), name
        assert col["null_pct"] == pytest.approx(100 * series.isna().mean(), abs=1e-3)
    for name in ("qty", "amount"):
        series, col = frame[name], cols[name]
        assert col["kind"] == "numeric"
        assert col["min"] == pytest.approx(series.min())
        assert col["max"] == pytest.approx(series.max())
        assert col["mean"] == pytest.approx(series.mean())
        assert col["std"] == pytest.approx(series.std())
        for q, key in ((0.25, "p25"), (0.5, "p50"), (0.75, "p75")):
            assert col[key] == pytest.approx(series.quantile(q)), (name, key)
        counts, edges = np.histogram(series.dropna(), bins=HISTOGRAM_BINS)
        assert col["histogram"]["counts"] == counts.tolist()
        assert col["histogram"]["edges"] == pytest.approx(edges.tolist())
    top = frame["city"].value_counts()
    assert [(t["value"], t["count"]) for t in cols["city"]["top"]] == list(top.items())
    assert cols["city"]["kind"] == "text"
    assert cols["paid"]["kind"] == "boolean"
    day = cols["day"]
    if fmt != "jsonl":  # JSON has no date type: ISO text there
        assert day["kind"] == "datetime"
        assert day["min"].startswith(str(frame["day"].min().date()))
        assert day["max"].startswith(str(frame["day"].max().date()))


def test_kinds():
    assert [kind_of(t) for t in ("BIGINT", "DECIMAL(18,3)", "DOUBLE")] == ["numeric"] * 3
    assert [kind_of(t) for t in ("DATE", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS")] == [
        "datetime"
    ] * 3
    assert kind_of("BOOLEAN") == "boolean"
    assert kind_of("VARCHAR") == "text"
    assert kind_of("STRUCT(a INTEGER)") == "text"


def test_empty_and_constant_columns(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("a,b\n5,\n5,\n")
    profile = quick_profile(str(path), "csv")
    a, b = profile["columns"]
    assert a["histogram"] == {"edges": [5.0, 5.0], "counts": [2]}
    assert (b["count"], b["nulls"], b["null_pct"]) == (0, 2, 100.0)
    assert "top" not in b
