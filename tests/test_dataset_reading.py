"""Reading edge cases in the worker's own functions, each compared with pandas' defaults:
what the real-file battery (test_dataset_battery.py) does not happen to contain."""

from __future__ import annotations

import pandas as pd
import pytest
from dataset_battery import type_agrees

from ai_notebook_ext.datasets.formats import SAMPLE_HEAD, FormatError, inspect
from ai_notebook_ext.datasets.profile import quick_profile
from ai_notebook_ext.datasets.readoptions import ReadOptions, pandas_names, parse

CASES = {
    "quoted_newlines": b'id,note\n1,"two\nlines"\n2,"a ""quote"""\n',
    "quoted_newlines_short_row": b'id,note,x\n1,"two\nlines",3\n2,b\n',
    "na_markers": b"a,b,c\n1,NA,x\nN/A,2.5,#N/A\nnull,-nan,None\n4,<NA>,\n",
    "pandas_bools_only": b"a,b,c\nTrue,t,yes\nFALSE,f,no\ntrue,T,Y\n",
    "bools_with_nulls": b"a,b\nTrue,1\n,2\nFalse,3\n",
    "all_null": b"a,b\n1,\n2,NA\n",
    "spaces_around_numbers": b"a,b\n 1 , 2.5\n3 ,4\n",
    "semicolons": b"a;b;c\n1;x,y;2.5\n",
    "empty_and_repeated_names": b",a,a,\n1,2,3,4\n",
    "header_only": b"a,b\n",
    "late_text_in_numbers": b"a\n" + b"1\n" * 30000 + b"x\n",
    # blank lines: pandas skips them (DuckDB read them as rows)
    "one_column_blank_lines": b"x\n1\n\n2\n\n",
    "whitespace_only_lines": b"a,b\n1,2\n   \n3,4\n \t",
    "leading_blank_line": b"\nx\n1\n2\n",
    "blank_line_in_a_quoted_value": b'id,note\n1,"a\n\nb"\n\n2,c\n',
    "one_column_quoted_empty": b'x\n1\n""\n\n2\n',
    "quote_inside_a_field_then_blank_lines": b'a,b\n12" pipe,3\n\nx,4\n\n"y\n\nz",5\n',
}


@pytest.mark.parametrize("name", CASES)
def test_csv_reads_as_pandas_reads_it(tmp_path, name):
    path = tmp_path / f"{name}.csv"
    path.write_bytes(CASES[name])
    schema = inspect(str(path), "csv")
    frame = pd.read_csv(path, sep=schema.read_options["delimiter"])
    assert [c["name"] for c in schema.columns] == list(frame.columns)
    assert schema.row_count == len(frame)
    profile = quick_profile(str(path), "csv", ReadOptions.of(schema.read_options))
    for ours, stats in zip(schema.columns, profile["columns"], strict=True):
        column = frame[ours["name"]]
        nulls = int(column.isna().sum())
        assert stats["nulls"] == nulls, (ours, nulls)
        assert stats["type"] == ours["type"]
        assert type_agrees(column.dtype, ours["type"], nulls), (ours, column.dtype)


def test_json_nested_objects_are_kept_as_structs(tmp_path):
    path = tmp_path / "n.json"
    path.write_text(
        '[{"id": 1, "who": {"name": "a", "age": 3}, "tags": ["x"], "n": null},'
        ' {"id": 2, "who": null, "tags": [], "n": null}]'
    )
    schema = inspect(str(path), "json")
    types = {c["name"]: c["type"] for c in schema.columns}
    assert types["who"].startswith("STRUCT(")  # said in the schema, not flattened
    assert types["tags"] == "VARCHAR[]"
    assert types["n"] == "DOUBLE"  # only nulls: float64 in pandas
    frame = pd.read_json(path, orient="records")
    for c in schema.columns:
        column = frame[c["name"]]
        assert type_agrees(column.dtype, c["type"], int(column.isna().sum())), c


def test_ragged_rows_name_the_line(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(b'a,b\n1,2\n3,"x\ny"\n5,6,7\n')
    with pytest.raises(FormatError, match="line 5 has 3 fields; the header has 2"):
        inspect(str(path), "csv")
    with pytest.raises(pd.errors.ParserError):  # pandas refuses it too
        pd.read_csv(path)


def test_thousands_and_encoding_options(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes('ville;habitants\nSète;"44 270"\nOrléans;"116 238"\n'.encode("cp1252"))
    with pytest.raises(FormatError, match=r"\?encoding=cp1252"):
        inspect(str(path), "csv")
    schema = inspect(str(path), "csv", parse(encoding="cp1252", thousands=" "))
    assert schema.read_options == {"delimiter": ";", "encoding": "cp1252", "thousands": " "}
    assert [c["type"] for c in schema.columns] == ["VARCHAR", "BIGINT"]
    frame = pd.read_csv(path, sep=";", encoding="cp1252", thousands=" ")
    assert frame["habitants"].tolist() == [44270, 116238]


def test_a_schema_only_read_recodes_only_a_sample(tmp_path):
    """Background uploads read a sample before answering: of a cp1252 file only its head
    is re-encoded, so text far down a column of numbers shows only in the full read."""
    path = tmp_path / "late.csv"
    rows = (SAMPLE_HEAD // len(b"S\xe8te,12345\n")) + 1000
    path.write_bytes(b"ville,n\n" + b"S\xe8te,12345\n" * rows + b"Orl\xe9ans,beaucoup\n")
    read = parse(encoding="cp1252")
    sample = inspect(str(path), "csv", read, count=False)
    assert [c["type"] for c in sample.columns] == ["VARCHAR", "BIGINT"]
    assert sample.row_count == -1
    full = inspect(str(path), "csv", read)
    assert [c["type"] for c in full.columns] == ["VARCHAR", "VARCHAR"]
    assert full.row_count == rows + 1


def test_a_sample_cut_inside_a_quoted_field_reads_the_whole_file(tmp_path):
    path = tmp_path / "quoted.csv"
    head = b"ville,note\n" + b"S\xe8te,ok\n" * ((SAMPLE_HEAD - (1 << 19)) // 8)
    path.write_bytes(head + b'Orl\xe9ans,"' + b"ligne\n" * (1 << 18) + b'"\nNice,ok\n')
    schema = inspect(str(path), "csv", parse(encoding="cp1252"), count=False)
    assert [c["name"] for c in schema.columns] == ["ville", "note"]


def test_names_follow_pandas():
    assert pandas_names(["", "a", "a", ""]) == ["Unnamed: 0", "a", "a.1", "Unnamed: 3"]
    header = ["0", "0", "0", "0.1"]
    assert pandas_names(header) == list(pd.read_csv(_text(",".join(header))).columns)


def _text(header: str):
    import io

    return io.StringIO(header + "\n" + ",".join("1" * len(header.split(","))) + "\n")


@pytest.mark.parametrize(
    ("data", "blank"),
    [
        (b"a\nbbbbbbbbbbbb\n\ncc\n", True),
        (b"a\nbbbbbbbbbbbb\ncc\n", False),
        (b"a\nbbbbbbbbbbbbbbbbbbbb \t\r\ncc", False),
        (b"a\nb\n  ", True),  # the last line, without its newline
        (b"a\nbbbbbbb\r\n\r\n", True),
        (b"a\tb\n1\t2\n\t\n", False),  # tabs in a TSV: a row of empty fields
        (b"a\rbbbbbbbbbbbbbbbbbb\rc\r", False),  # no newline at all (old Mac lines)
    ],
)
def test_blank_lines_are_found_across_chunk_boundaries(tmp_path, monkeypatch, data, blank):
    from ai_notebook_ext.datasets import blanklines

    monkeypatch.setattr(blanklines, "CHUNK", 5)
    path = tmp_path / "lines.csv"
    path.write_bytes(data)
    delimiter = "\t" if b"\t" in data.split(b"\n")[0] else ","
    assert blanklines.has_blank_lines(str(path), delimiter) is blank
