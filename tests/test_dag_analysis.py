"""Dependency analysis: one row per construct, asserting defines, references and mutates."""

from __future__ import annotations

import pytest

from ai_notebook_ext.dag.analysis import analyze, code_hash
from ai_notebook_ext.dag.graph import build
from ai_notebook_ext.dag.methods import MUTATORS, READ_ONLY
from ai_notebook_ext.execution.batches import batch, schedulable

# (id, source, defines, references, mutates)
CASES: list[tuple[str, str, set[str], set[str], set[str]]] = [
    # --- assignment targets
    ("simple assignment", "x = 41", {"x"}, set(), set()),
    ("reference", "print(x + 1)", set(), {"x"}, set()),
    ("chained assignment", "a = b = c", {"a", "b"}, {"c"}, set()),
    ("tuple unpacking", "a, b = pair", {"a", "b"}, {"pair"}, set()),
    ("nested unpacking", "(a, (b, c)), d = data", {"a", "b", "c", "d"}, {"data"}, set()),
    ("starred target", "first, *rest = items", {"first", "rest"}, {"items"}, set()),
    ("list target", "[a, b] = 1, 2", {"a", "b"}, set(), set()),
    ("self reference", "x = x + 1", {"x"}, {"x"}, set()),
    ("use after own definition", "y = 2\nz = y * k", {"y", "z"}, {"k"}, set()),
    ("use before own definition", "z = y\ny = 2", {"y", "z"}, {"y"}, set()),
    ("swap", "a, b = b, a", {"a", "b"}, {"a", "b"}, set()),
    # --- annotated and augmented assignment
    ("annotated with value", "n: int = count", {"n"}, {"count"}, set()),
    ("annotation without value", "n: Number", set(), {"Number"}, set()),
    ("annotated attribute", "obj.size: int = 3", set(), set(), {"obj"}),
    ("augmented of upstream", "total += 1", set(), set(), {"total"}),
    ("augmented of own", "total = 0\ntotal += step", {"total"}, {"step"}, set()),
    ("augmented subscript", "counts[key] += 1", set(), {"key"}, {"counts"}),
    ("augmented attribute", "self_.n -= delta", set(), {"delta"}, {"self_"}),
    # --- imports
    ("import", "import os", {"os"}, set(), set()),
    ("dotted import", "import a.b.c", {"a"}, set(), set()),
    ("import as", "import numpy as np", {"np"}, set(), set()),
    ("dotted import as", "import matplotlib.pyplot as plt", {"plt"}, set(), set()),
    ("from import", "from m import x", {"x"}, set(), set()),
    ("from import as", "from m import x as y", {"y"}, set(), set()),
    ("relative import", "from .pkg import thing", {"thing"}, set(), set()),
    ("future import", "from __future__ import annotations", set(), set(), set()),
    # --- def, class, lambda
    ("def free names", "def f(a):\n    return a + g", {"f"}, {"g"}, set()),
    ("def default and decorator", "@deco\ndef f(a=d):\n    pass", {"f"}, {"deco", "d"}, set()),
    ("def annotations", "def f(a: T) -> R:\n    pass", {"f"}, {"T", "R"}, set()),
    ("def local not a reference", "def f():\n    y = 1\n    return y", {"f"}, set(), set()),
    ("def recursion", "def f(n):\n    return f(n - 1)", {"f"}, set(), set()),
    ("def uses later definition", "def f():\n    return h()\nh = g", {"f", "h"}, {"g"}, set()),
    ("def kwonly and varargs", "def f(*a, k=v, **kw):\n    return a, k, kw", {"f"}, {"v"}, set()),
    (
        "nested def closure",
        "def f():\n    x = 1\n    def g():\n        return x + y\n    return g",
        {"f"},
        {"y"},
        set(),
    ),
    (
        "async def",
        "async def fetch():\n    return await client.get(u)",
        {"fetch"},
        {"client", "u"},
        set(),
    ),
    (
        "class",
        "class A(Base):\n    n = size\n    def m(self):\n        return n",
        {"A"},
        {"Base", "size", "n"},
        set(),
    ),
    ("class body local", "class A:\n    k = 1\n    j = k + 1", {"A"}, set(), set()),
    ("class keyword", "class A(metaclass=Meta):\n    pass", {"A"}, {"Meta"}, set()),
    ("lambda", "f = lambda a: a * factor", {"f"}, {"factor"}, set()),
    ("lambda default", "f = lambda a=d: a", {"f"}, {"d"}, set()),
    # --- comprehensions and walrus
    ("list comprehension scope", "ys = [x * k for x in xs]", {"ys"}, {"k", "xs"}, set()),
    ("dict comprehension", "d = {k: v for k, v in pairs}", {"d"}, {"pairs"}, set()),
    (
        "nested comprehension",
        "m = [a * b for a in r1 for b in r2 if b > t]",
        {"m"},
        {"r1", "r2", "t"},
        set(),
    ),
    ("generator expression", "s = sum(x for x in xs)", {"s"}, {"xs"}, set()),
    ("walrus", "if (n := len(data)) > 3:\n    print(n)", {"n"}, {"data"}, set()),
    ("walrus in comprehension", "ys = [y := f(x) for x in xs]", {"ys", "y"}, {"f", "xs"}, set()),
    ("comprehension var does not leak", "ys = [i for i in r]\nprint(i)", {"ys"}, {"r", "i"}, set()),
    # --- for, with, except, match
    (
        "for target",
        "for i, row in enumerate(rows):\n    acc.append(row)",
        {"i", "row"},
        {"rows"},
        {"acc"},
    ),
    ("for else", "for x in xs:\n    pass\nelse:\n    done = True", {"x", "done"}, {"xs"}, set()),
    ("with target", "with open(p) as fh:\n    text = fh.read()", {"fh", "text"}, {"p"}, set()),
    ("async with", "async def f():\n    async with lock:\n        pass", {"f"}, {"lock"}, set()),
    (
        "except name is unbound after",
        "try:\n    risky()\nexcept Err as e:\n    msg = str(e)",
        {"msg"},
        {"risky", "Err"},
        set(),
    ),
    (
        "match capture",
        "match cmd:\n    case [op, *args]:\n        run_(op, args)",
        {"op", "args"},
        {"cmd", "run_"},
        set(),
    ),
    (
        "match mapping rest",
        "match ev:\n    case {'k': v, **rest}:\n        pass",
        {"v", "rest"},
        {"ev"},
        set(),
    ),
    (
        "match class and value",
        "match p:\n    case Point(x=0) | Color.RED:\n        pass",
        set(),
        {"p", "Point", "Color"},
        set(),
    ),
    ("match as", "match p:\n    case [a] as whole:\n        pass", {"a", "whole"}, {"p"}, set()),
    # --- global and del
    (
        "global in function",
        "def reset():\n    global state\n    state = {}",
        {"reset", "state"},
        set(),
        set(),
    ),
    (
        "global augmented in function",
        "def bump():\n    global hits\n    hits += 1",
        {"bump"},
        set(),
        {"hits"},
    ),
    ("del upstream", "del big", set(), set(), {"big"}),
    ("del own", "tmp = 1\ndel tmp", set(), set(), set()),
    ("del subscript", "del cache[key]", set(), {"key"}, {"cache"}),
    # --- mutation by stores and method calls
    ("subscript store", 'df["c"] = df["a"] * 2', set(), {"df"}, {"df"}),
    ("attribute store", "obj.attr = value", set(), {"value"}, {"obj"}),
    ("deep store", "a.b[i].c = 1", set(), {"i"}, {"a"}),
    ("loc store", "df.loc[mask, 'x'] = 0", set(), {"mask"}, {"df"}),
    ("method call statement", "lst.append(x)", set(), {"x"}, {"lst"}),
    ("fit", "model.fit(X, y)", set(), {"X", "y"}, {"model"}),
    ("inplace", "df.sort_values('a', inplace=True)", set(), set(), {"df"}),
    ("inplace in assignment", "r = df.dropna(inplace=True)", {"r"}, set(), {"df"}),
    ("method value used is not a mutation", "n = lst.count(x)", {"n"}, {"lst", "x"}, set()),
    ("chained method call", "df.groupby('a').apply(fn)", set(), {"fn"}, {"df"}),
    ("call of a function result", "make(cfg).run()", set(), {"make", "cfg"}, set()),
    ("mutation of own object", "lst = []\nlst.append(1)", {"lst"}, set(), set()),
    ("builtin call is not a mutation", "print(x)", set(), {"x"}, set()),
    ("function mutating a global", "def add(v):\n    seen.add(v)", {"add"}, set(), {"seen"}),
    ("function store to a global", "def put(v):\n    table[v] = 1", {"put"}, set(), {"table"}),
    ("await method call", "async def f():\n    await conn.close()", {"f"}, set(), {"conn"}),
    # --- read-only methods (dag/methods.py) versus mutators and the unknown
    ("head reads only", "df.head()", set(), {"df"}, set()),
    ("plot reads only", "df.plot()", set(), {"df"}, set()),
    ("print of describe", "print(df.describe())", set(), {"df"}, set()),
    ("display of head", "display(df.head(3))", set(), {"df"}, set()),
    ("groupby agg chain", "df.groupby('a').agg(total=('b', 'sum'))", set(), {"df"}, set()),
    ("value_counts then plot", "df['x'].value_counts().plot(kind='bar')", set(), {"df"}, set()),
    ("plot accessor", "df.plot.bar(x='a', y=col)", set(), {"df", "col"}, set()),
    ("str accessor", "s.str.upper()", set(), {"s"}, set()),
    ("writer changes a file not the frame", "df.to_csv(path)", set(), {"df", "path"}, set()),
    ("numpy reshape", "arr.reshape(2, 3)", set(), {"arr"}, set()),
    ("savefig", "fig.savefig('out.png')", set(), {"fig"}, set()),
    ("dict get", "d.get(k)", set(), {"d", "k"}, set()),
    ("list count", "lst.count(1)", set(), {"lst"}, set()),
    ("str method", "name.strip().upper()", set(), {"name"}, set()),
    ("read-only call in a function", "def show():\n    df.head()", {"show"}, {"df"}, set()),
    ("inplace on a read-only name", "df.fillna(0, inplace=True)", set(), set(), {"df"}),
    ("inplace inside a chain", "df['a'].fillna(0, inplace=True)", set(), set(), {"df"}),
    ("inplace from a variable", "df.dropna(inplace=flag)", set(), {"flag"}, {"df"}),
    ("inplace false reads only", "df.dropna(inplace=False)", set(), {"df"}, set()),
    ("kwargs may hold inplace", "df.sort_values('a', **opts)", set(), {"opts"}, {"df"}),
    ("out keyword", "arr.clip(0, 1, out=arr)", set(), {"arr"}, {"arr"}),
    ("list sort", "lst.sort()", set(), set(), {"lst"}),
    ("dict update", "d.update(other)", set(), {"other"}, {"d"}),
    ("pop", "stack.pop()", set(), set(), {"stack"}),
    ("mutator under a read-only call", "lst.pop().bit_length()", set(), set(), {"lst"}),
    ("read-only under an unknown call", "df.custom().head()", set(), set(), {"df"}),
    ("unknown method", "obj.frobnicate()", set(), set(), {"obj"}),
    ("axes method changes the figure", "ax.set_title('t')", set(), set(), {"ax"}),
    # --- builtins and strings
    (
        "builtins are not references",
        "n = len(range(10))\nprint(sorted([3, 1]))",
        {"n"},
        set(),
        set(),
    ),
    ("fstring", "s = f'{name}: {value!r}'", {"s"}, {"name", "value"}, set()),
    ("attribute load", "v = cfg.path.name", {"v"}, {"cfg"}, set()),
    ("star args", "out = f(*args, **kw)", {"out"}, {"f", "args", "kw"}, set()),
    ("conditional branches", "if flag:\n    a = 1\nelse:\n    b = 2", {"a", "b"}, {"flag"}, set()),
    ("while", "while n > 0:\n    n = n - 1", {"n"}, {"n"}, set()),
    # --- IPython syntax
    ("line magic", "%matplotlib inline\nimport numpy as np", {"np"}, set(), set()),
    ("shell escape", "!pip list", set(), set(), set()),
    ("shell capture", "files = !ls", {"files"}, set(), set()),
    ("magic assignment", "names = %who_ls", {"names"}, set(), set()),
    ("cell magic time", "%%time\ny = z + 1\n", {"y"}, {"z"}, set()),
    ("cell magic capture", "%%capture out\nprint(q)\n", {"out"}, {"q"}, set()),
    ("line magic time", "%time z = heavy(w)", {"z"}, {"heavy", "w"}, set()),
    ("foreign cell magic", "%%bash\necho $HOME\n", set(), set(), set()),
    ("help syntax", "obj?", set(), set(), set()),
]


@pytest.mark.parametrize(
    ("source", "defines", "references", "mutates"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_analysis(source, defines, references, mutates):
    result = analyze(source)
    assert result.error is None, result.error
    assert set(result.defines) == defines
    assert set(result.references) == references
    assert set(result.mutates) == mutates


def test_there_are_at_least_sixty_cases():
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == len(CASES)


def test_star_import_is_flagged():
    result = analyze("from pandas import *\ndf = DataFrame()")
    assert result.star_imports == ("pandas",)
    assert set(result.defines) == {"df"}
    assert "DataFrame" in result.references  # resolved by the graph through the flag


def test_imports_are_marked():
    result = analyze("import os\nfrom m import f\nx = 1")
    assert set(result.imports) == {"os", "f"}


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("x = = 1", "SyntaxError"),
        ("def f(:\n    pass", "line 1"),
        ("if True:\nprint(1)", "IndentationError"),
        ("a = '\x00'\x00", "null"),
        ("(" * 500 + ")" * 500, ""),
    ],
)
def test_unparseable_code_is_an_error_not_a_crash(source, fragment):
    result = analyze(source)
    assert result.error, result
    assert fragment in result.error
    assert result.defines == frozenset()
    assert len(code_hash(source)) == 64


def test_code_hash_ignores_comments_and_formatting():
    a = code_hash("x = f(1,2)  # comment\n\n\ny=x")
    b = code_hash("# header\nx = f(1, 2)\ny = x\n")
    c = code_hash("x = f(1, 3)\ny = x\n")
    assert a == b
    assert a != c
    assert code_hash("x = = 1") != code_hash("x = = 2")  # unparseable: hashed as text


@pytest.mark.parametrize(
    ("source", "flag"),
    [
        ("x = await fetch()", True),
        ("async with lock:\n    pass", True),
        ("async for i in stream():\n    pass", True),
        ("r = [i async for i in stream()]", True),
        ("async def f():\n    await g()", False),
        ("x = 1", False),
    ],
)
def test_top_level_await_is_noticed(source, flag):
    assert analyze(source).top_level_await is flag


def test_code_definitions_and_ipython_syntax_are_marked():
    result = analyze("import os\nfrom m import f\ndef g(): pass\nclass C: pass\nx = 1")
    assert set(result.code_defs) == {"os", "f", "g", "C"}
    assert result.ipython is False
    assert analyze("%time x = 1").ipython is True


def test_a_question_mark_in_a_comment_is_not_ipython_syntax():
    result = analyze("x = 1  # really?\ny = x")
    assert result.ipython is False
    assert set(result.defines) == {"x", "y"}


def test_read_only_and_mutating_tables_do_not_overlap():
    assert not READ_ONLY & MUTATORS


def test_branches_that_only_read_a_frame_are_independent():
    """df.head() and df.plot() no longer write df: both wait only for the block that made
    it, and the parallel planner may start them together."""
    blocks = [
        (1, "import pandas as pd\ndf = pd.read_csv(path)"),
        (2, "df.head()"),
        (3, "df.plot()"),
        (4, "print(df.describe())"),
        (5, "df.sort_values('a', inplace=True)"),
        (6, "df.tail()"),
    ]
    graph = build(blocks)
    for block in (2, 3, 4, 5):
        assert graph.parents(block) == {1}, (block, graph.edges)
    assert graph.parents(6) == {5}  # after the in-place sort
    remaining = [2, 3, 4, 5, 6]
    assert schedulable(graph, set(remaining) | {1}, remaining, {1}) == [2, 3, 4]


def test_a_batch_takes_blocks_that_wait_only_for_blocks_of_it():
    """Chains join the batch with the blocks they wait for; a block that writes what an
    earlier block of the plan reads or writes (not one of its ancestors) stays out, and so
    do blocks that must run in the kernel and what waits for them."""
    blocks = [
        (1, "a = 1"),
        (2, "b = a + 1"),
        (3, "c = 2"),
        (4, "d = c + b"),
        (5, "print(a)"),
        (6, "a = 7"),  # rewrites what 1 wrote and 2 and 5 read
        (7, "def f():\n    return 1"),  # defines a function: the kernel's
        (8, "e = f()"),  # waits for 7
        (9, "b = b * 2"),  # rewrites the b that 4, earlier in the plan, reads
    ]
    graph = build(blocks)
    remaining = [b for b, _ in blocks]
    members = batch(graph, set(remaining), remaining, set())
    assert members == {1: [], 2: [1], 3: [], 4: [2, 3], 5: [1]}
    # Once 1 and 2 succeeded: 6 still may not pass 5 (which reads the a that 1 wrote),
    # nor 9 pass 4.
    remaining = [3, 4, 5, 6, 9]
    members = batch(graph, set(range(1, 10)), remaining, {1, 2})
    assert members == {3: [], 4: [3], 5: []}
