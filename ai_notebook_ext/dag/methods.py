"""Which method calls leave their receiver unchanged (pure tables, no I/O).

A method call whose value is discarded (``df.plot()``, ``lst.append(x)``) is a mutation of
its receiver by default: the analysis cannot know the receiver's type, and a false
mutation only costs an edge while a missed one runs blocks in the wrong order. The tables
below name methods that, on every common type that has them, only read their receiver:
pandas display and aggregation (``head``, ``describe``, ``groupby(...).agg(...)``, which
return new objects), numpy reductions and conversions, writers that change a file and not
the object (``to_csv``, ``savefig``), builtins' read-only methods (``list.count``,
``dict.get``, ``str.upper``). A name that mutates on some common type (``sort``: lists and
arrays; ``update``, ``pop``, ``fill``) is not read-only, and unknown names stay mutations.

``plot``, ``hist`` and ``boxplot`` are read-only: on a DataFrame or Series they draw a new
figure. On a matplotlib Axes they draw into that Axes' figure, which the graph does not
order by (the inline backend shows and closes a figure at the end of the block that drew
it); the other Axes and Figure methods (``set_title``, ``legend``, ``add_subplot``, ...)
still count as changing the figure.
"""

from __future__ import annotations

import ast

# Methods of pandas objects (DataFrame, Series, Index, GroupBy, Rolling, ...) that return
# a new object or a value and leave the receiver alone (``inplace=True`` aside).
PANDAS = frozenset(
    {
        # display and inspection
        "head", "tail", "describe", "info", "sample", "memory_usage", "equals",
        "isna", "isnull", "notna", "notnull", "isin", "between", "duplicated",
        "value_counts", "nunique", "unique", "items", "iterrows", "itertuples",
        "first_valid_index", "last_valid_index", "select_dtypes", "squeeze",
        "plot", "hist", "boxplot",
        # aggregation and statistics
        "sum", "mean", "median", "mode", "min", "max", "std", "var", "sem", "skew",
        "kurt", "kurtosis", "prod", "product", "count", "size", "quantile", "corr",
        "corrwith", "cov", "idxmax", "idxmin", "nlargest", "nsmallest", "cumsum",
        "cumprod", "cummax", "cummin", "diff", "pct_change", "shift", "rank",
        "agg", "aggregate", "groupby", "rolling", "expanding", "ewm", "resample",
        "first", "last", "nth", "ohlc", "any", "all", "abs", "round", "clip",
        # reshaping and selection that return new objects
        "copy", "astype", "convert_dtypes", "infer_objects", "dropna", "fillna",
        "ffill", "bfill", "interpolate", "drop", "drop_duplicates", "rename",
        "rename_axis", "reset_index", "set_index", "sort_values", "sort_index",
        "reindex", "merge", "join", "concat", "assign", "query", "eval", "filter",
        "where", "mask", "replace", "pivot", "pivot_table", "melt", "stack",
        "unstack", "explode", "transpose", "droplevel", "swaplevel", "add_prefix",
        "add_suffix", "get_group", "xs", "take", "truncate", "combine_first",
        "align", "compare",
        # conversions and writers (a file changes, not the object)
        "to_numpy", "to_list", "tolist", "to_dict", "to_frame", "to_string",
        "to_markdown", "to_html", "to_latex", "to_json", "to_csv", "to_parquet",
        "to_excel", "to_pickle", "to_feather", "to_records", "to_series",
    }
)  # fmt: skip

# ndarray methods that return a new array or a value (``out=`` aside).
NUMPY = frozenset(
    {
        "reshape", "ravel", "flatten", "view", "argmax", "argmin", "argsort",
        "nonzero", "dot", "trace", "diagonal", "searchsorted", "tobytes", "conj",
        "ptp", "repeat", "swapaxes", "item",
    }
)  # fmt: skip

# matplotlib methods that read a figure or write it to a file without changing it.
MATPLOTLIB = frozenset({"savefig", "show", "get_figure", "get_xlim", "get_ylim"})

# Read-only methods of builtins: list, tuple, dict, set, str, bytes.
BUILTIN = frozenset(
    {
        "copy", "count", "index", "get", "keys", "items", "values",
        "union", "intersection", "difference", "symmetric_difference", "issubset",
        "issuperset", "isdisjoint",
        "upper", "lower", "title", "capitalize", "casefold", "swapcase", "strip",
        "lstrip", "rstrip", "split", "rsplit", "splitlines", "rpartition",
        "join", "replace", "startswith", "endswith", "find", "rfind",
        "rindex", "format", "format_map", "center", "ljust", "rjust", "zfill",
        "expandtabs", "encode", "decode", "hex", "isalpha", "isdigit", "isnumeric",
        "isalnum", "isspace", "isupper", "islower", "isidentifier", "removeprefix",
        "removesuffix", "translate",
    }
)  # fmt: skip

READ_ONLY = PANDAS | NUMPY | MATPLOTLIB | BUILTIN

# Methods known to change their receiver on a common type. Unknown methods count as
# mutations too; this table keeps the read-only one honest (the two never overlap) and
# documents the cases that matter most.
MUTATORS = frozenset(
    {
        "append", "extend", "insert", "remove", "pop", "popitem", "clear", "update",
        "setdefault", "add", "discard", "sort", "reverse", "fill", "resize", "put",
        "itemset", "setflags", "partition", "fit", "partial_fit",
        "fit_transform", "set_title", "set_xlabel", "set_ylabel", "legend",
        "add_subplot", "close",
    }
)  # fmt: skip

# Accessors whose every method returns a new object: df.plot.bar(), s.str.upper(),
# s.dt.strftime(...).
READ_ONLY_ACCESSORS = frozenset({"plot", "str", "dt"})

# Keywords that make a call write into an object: inplace=True, out=array.
_WRITING_KEYWORDS = frozenset({"inplace", "out"})


def _reads_only_call(call: ast.Call) -> bool:
    """Whether this one call leaves its receiver alone."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return False
    for keyword in call.keywords:
        if keyword.arg in _WRITING_KEYWORDS and not (
            isinstance(keyword.value, ast.Constant) and keyword.value.value in (False, None)
        ):
            return False
        if keyword.arg is None:  # **kwargs could hold inplace=True
            return False
    if func.attr in READ_ONLY:
        return True
    receiver = func.value
    return isinstance(receiver, ast.Attribute) and receiver.attr in READ_ONLY_ACCESSORS


def reads_only(call: ast.Call) -> bool:
    """Whether a method call, and every method call it chains on, leaves the receiver
    alone: ``df.groupby("a").agg("sum")``, ``df["x"].value_counts().plot()`` do;
    ``df.groupby("a").apply(fn)``, ``lst.pop().bit_length()`` may not."""
    node: ast.expr = call
    while True:
        if isinstance(node, ast.Call):
            if not _reads_only_call(node):
                return False
            node = node.func.value  # type: ignore[attr-defined]  # an Attribute: checked
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        else:
            return True
