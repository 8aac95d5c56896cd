"""Synthetic data shared by the dataset benchmarks: 12 mixed columns."""

from __future__ import annotations

import numpy as np
import pandas as pd


def sales_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` rows x 12 columns: integers, floats, categories, booleans, timestamps, and
    text of low and high cardinality."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "qty": rng.integers(0, 100, n),
            "price": rng.normal(50, 10, n).round(2),
            "discount": rng.random(n).round(3),
            "city": rng.choice(["Lima", "Oslo", "Pune", "Kyiv", "Quito"], n),
            "category": rng.choice([f"cat{i}" for i in range(40)], n),
            "paid": rng.choice([True, False], n),
            "ts": (
                pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 86400, n), "s")
            ).strftime("%Y-%m-%d %H:%M:%S"),
            "score": rng.normal(0, 1, n).round(5),
            "note": rng.choice(["ok", "late", "damaged", "returned", ""], n),
            "weight": rng.gamma(2, 2, n).round(3),
            "code": np.char.add("SKU-", rng.integers(10000, 99999, n).astype(str)),
        }
    )
