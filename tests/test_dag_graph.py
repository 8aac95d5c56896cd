"""The block graph: inferred edges with their names, explicit edges, cycles, unresolved."""

from __future__ import annotations

import itertools

import pytest

from ai_notebook_ext.dag.graph import STAR, CycleError, Edge, build
from ai_notebook_ext.dag.plan import make_plan
from ai_notebook_ext.dag.reasons import first_line, stale_reason
from ai_notebook_ext.dag.state import Overwrite, RunFacts, fingerprints, overwritten, states


def edges_of(graph, kind="inferred"):
    return {(e.source, e.target): e.names for e in graph.edges if e.kind == kind}


def test_a_block_depends_on_the_nearest_earlier_writer():
    graph = build([(1, "x = 1"), (2, "x = 2"), (3, "print(x)")])
    assert edges_of(graph) == {(2, 3): ("x",)}
    assert graph.unresolved == {}


def test_mutations_chain_writers():
    graph = build(
        [
            (1, "import pandas as pd\ndf = pd.DataFrame()"),
            (2, "df['c'] = 1"),
            (3, "df.dropna(inplace=True)"),
            (4, "total = df['c'].sum()"),
        ]
    )
    assert edges_of(graph) == {(1, 2): ("df",), (2, 3): ("df",), (3, 4): ("df",)}
    assert graph.upstream(4) == {1, 2, 3}
    assert graph.downstream(2) == {3, 4}


def test_edges_carry_every_name_that_causes_them():
    graph = build([(1, "a = 1\nb = 2"), (2, "c = a + b"), (3, "print(c, a)")])
    assert edges_of(graph) == {(1, 2): ("a", "b"), (2, 3): ("c",), (1, 3): ("a",)}


def test_independent_branches_have_no_edges_between_them():
    graph = build([(1, "data = load()"), (2, "left = f(data)"), (3, "right = g(data)")])
    assert edges_of(graph) == {(1, 2): ("data",), (1, 3): ("data",)}
    assert graph.upstream(3) == {1}
    assert graph.unresolved == {1: ["load"], 2: ["f"], 3: ["g"]}


def test_unresolved_names_and_parse_errors_are_reported_per_block():
    graph = build([(1, "x = undefined_thing"), (2, "y = = 1"), (3, "z = x")])
    assert graph.unresolved == {1: ["undefined_thing"]}
    assert "SyntaxError" in graph.errors[2]
    assert edges_of(graph) == {(1, 3): ("x",)}
    # What IPython puts in every namespace (the last results, display, In/Out) is known.
    ipython = build([(1, "display(_, __, _i, In[1], Out)\nprint(_oh, get_ipython())")])
    assert ipython.unresolved == {}


def test_a_star_import_provides_unknown_names():
    graph = build([(1, "from helpers import *"), (2, "result = compute(3)")])
    assert edges_of(graph) == {(1, 2): (STAR,)}
    assert graph.unresolved == {}


def test_later_definitions_do_not_satisfy_earlier_blocks():
    graph = build([(1, "print(late)"), (2, "late = 1")])
    assert edges_of(graph) == {}
    assert graph.unresolved == {1: ["late"]}


def test_explicit_edges_are_added():
    graph = build([(1, "a = 1"), (2, "b = 2"), (3, "c = 3")], explicit=[(1, 3), (3, 2)])
    assert edges_of(graph, "explicit") == {(1, 3): (), (3, 2): ()}
    assert graph.topological() == [1, 3, 2]


def test_an_explicit_edge_closing_a_cycle_is_refused_with_the_cycle():
    blocks = [(1, "a = 1"), (2, "b = a"), (3, "c = b")]
    with pytest.raises(CycleError) as caught:
        build(blocks, explicit=[(3, 1)])
    cycle = caught.value.cycle
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {1, 2, 3}
    # Consecutive blocks on the cycle are real edges (inferred or the explicit one).
    real = {(1, 2), (2, 3), (3, 1)}
    assert set(itertools.pairwise(cycle)) == real
    with pytest.raises(CycleError):
        build(blocks, explicit=[(2, 2)])


def test_an_explicit_edge_to_an_unknown_block_is_refused():
    with pytest.raises(ValueError, match="not in the project"):
        build([(1, "a = 1")], explicit=[(1, 99)])


def test_topological_order_keeps_positions_where_edges_allow():
    graph = build([(10, "a = 1"), (20, "b = 2"), (30, "c = a"), (40, "d = b + c")])
    assert graph.topological() == [10, 20, 30, 40]
    assert graph.topological({40, 30, 10}) == [10, 30, 40]
    # Blocks that are reordered by an explicit edge still respect it.
    graph = build([(1, "x = 1"), (2, "y = 2")], explicit=[(2, 1)])
    assert graph.topological() == [2, 1]


def test_edges_are_plain_data():
    graph = build([(1, "x = 1"), (2, "x")])
    assert graph.edges == [Edge(1, 2, "inferred", ("x",))]


# --- fingerprints and states ------------------------------------------------------------


def test_fingerprints_follow_code_and_upstream_but_not_formatting():
    base = build([(1, "a = 1"), (2, "b = a + 1"), (3, "c = 3")])
    fps = fingerprints(base)
    reformatted = fingerprints(build([(1, "a=1  # one"), (2, "b = a+1"), (3, "c = 3")]))
    assert reformatted == fps
    edited = fingerprints(build([(1, "a = 2"), (2, "b = a + 1"), (3, "c = 3")]))
    assert edited[1] != fps[1]
    assert edited[2] != fps[2]  # the descendant changes with its upstream
    assert edited[3] == fps[3]  # an independent block does not
    with_inputs = fingerprints(base, {3: ["dataset:7@2"]})
    assert with_inputs[3] != fps[3]
    assert with_inputs[1] == fps[1]


def test_states():
    graph = build([(1, "a = 1"), (2, "b = a"), (3, "c = b"), (4, "d = 4"), (5, "e = 5")])
    fps = fingerprints(graph)
    facts = {
        1: RunFacts("succeeded", fps[1]),
        2: RunFacts("succeeded", "an older fingerprint"),
        3: RunFacts("succeeded", fps[3]),
        4: RunFacts("failed", fps[4]),
        5: RunFacts("running", None),
    }
    assert states(graph, fps, facts) == {
        1: "fresh",
        2: "stale",  # its code or upstream changed since its last success
        3: "stale",  # itself unchanged, but upstream is stale
        4: "failed",
        5: "running",
    }
    assert states(graph, fps, {})[1] == "never-run"
    # After a kernel restart no success counts (facts of the new generation are empty).
    restarted = {b: RunFacts("succeeded", None) for b in (1, 2, 3)}
    assert set(states(graph, fps, restarted).values()) >= {"stale"}
    assert states(graph, fps, restarted)[1] == "stale"


def test_an_upstream_block_that_succeeded_again_makes_its_dependents_stale():
    graph = build([(1, "a = 1"), (2, "b = a"), (3, "c = b"), (4, "d = 4")])
    fps = fingerprints(graph)
    in_order = {b: RunFacts("succeeded", fps[b], fresh_run=10 + b) for b in (1, 2, 3, 4)}
    assert set(states(graph, fps, in_order).values()) == {"fresh"}
    again = {**in_order, 1: RunFacts("succeeded", fps[1], fresh_run=20)}
    result = states(graph, fps, again)
    assert result == {1: "fresh", 2: "stale", 3: "stale", 4: "fresh"}
    assert stale_reason(graph, 2, result, again, "b = a", True) == (
        "upstream ran again after it: block 1 “a = 1” (a)"
    )
    assert stale_reason(graph, 3, result, again, "c = b", True) == (
        "upstream is not fresh: block 2 “b = a” (b)"
    )
    # The dependent ran again too: fresh again.
    later = {**again, 2: RunFacts("succeeded", fps[2], fresh_run=21)}
    assert states(graph, fps, later)[2] == "fresh"


def test_a_run_stopped_part_way_leaves_its_block_stale():
    graph = build([(1, "a = 1"), (2, "b = a")])
    fps = fingerprints(graph)
    ok = {b: RunFacts("succeeded", fps[b], fresh_run=b) for b in (1, 2)}
    # cancelled in the kernel after an earlier success: what it changed may be half done
    stopped = {**ok, 1: RunFacts("cancelled", fps[1], fresh_run=1, last_started=True)}
    result = states(graph, fps, stopped)
    assert result == {1: "stale", 2: "stale"}
    assert stale_reason(graph, 1, result, stopped, None, True).startswith(
        "its last run was stopped part way"
    )
    # cancelled before it reached the kernel: nothing changed
    never_sent = {**ok, 1: RunFacts("cancelled", fps[1], fresh_run=1, last_started=False)}
    assert states(graph, fps, never_sent) == {1: "fresh", 2: "fresh"}


def test_stale_reasons_name_blocks_by_their_first_line():
    long = "total = " + " + ".join(["value"] * 20)
    graph = build([(1, "\n# load\nv = 1"), (2, long), (3, "print(v, total)")])
    fps = fingerprints(graph)
    facts = {1: RunFacts("failed"), 2: RunFacts("succeeded", fps[2], fresh_run=2)}
    facts[3] = RunFacts("succeeded", fps[3], fresh_run=3)
    result = states(graph, fps, facts)
    reason = stale_reason(graph, 3, result, facts, "print(v, total)", True)
    assert reason == "upstream is not fresh: block 1 “# load” (v)"
    assert first_line(long) == long[:39] + "…"
    assert stale_reason(graph, 3, result, facts, None, False).startswith("no kernel is running")


def test_lenient_build_leaves_out_edges_that_became_cyclic():
    # Block 2 was moved before block 1 after the explicit edge 1 -> 2 was added... and
    # now 1 reads what 2 defines, so the explicit edge closes a cycle.
    graph = build([(2, "x = 1"), (1, "y = x")], explicit=[(1, 2)], strict=False)
    assert edges_of(graph) == {(2, 1): ("x",)}
    assert edges_of(graph, "explicit") == {}
    assert [(e.source, e.target) for e, _ in graph.ignored] == [(1, 2)]
    assert set(graph.ignored[0][1]) == {1, 2}


def test_calls_on_modules_do_not_make_a_block_a_writer():
    graph = build(
        [(1, "import time"), (2, "time.sleep(0)\na = 1"), (3, "time.sleep(0)\nb = 2"), (4, "c = a")]
    )
    assert edges_of(graph) == {(1, 2): ("time",), (1, 3): ("time",), (2, 4): ("a",)}
    assert graph.writes[2] == {"a"}
    # A name rebound to a value is no module any more: changing it is a write again.
    graph = build([(1, "import time"), (2, "time = []"), (3, "time.append(1)"), (4, "time")])
    assert edges_of(graph)[(3, 4)] == ("time",)


def test_a_name_replaced_by_another_block_before_it_was_read_makes_the_reader_stale():
    graph = build([(1, "df = 'a'"), (2, "n = len(df)"), (3, "df = 'bb'"), (4, "m = len(df)")])
    fps = fingerprints(graph)
    ran = {b: RunFacts("succeeded", fps[b], fresh_run=10 + b) for b in (1, 2, 3, 4)}
    # In notebook order each reader read its own writer's df.
    assert set(states(graph, fps, ran).values()) == {"fresh"}
    assert overwritten(graph, ran) == {}
    # Block 2 ran again after block 3 replaced df: it read block 3's value.
    again = {**ran, 2: RunFacts("succeeded", fps[2], fresh_run=20)}
    result = states(graph, fps, again)
    assert result == {1: "fresh", 2: "stale", 3: "fresh", 4: "fresh"}
    assert overwritten(graph, again) == {2: [Overwrite("df", 1, 3)]}
    assert stale_reason(graph, 2, result, again, "n = len(df)", True) == (
        "it read df after block 3 “df = 'bb'” replaced the value of block 1 “df = 'a'”: "
        "that block runs again first (or rename one of the two)"
    )
    # A stale pipeline runs block 1 again before it, although block 1 is fresh.
    plan = make_plan(graph, result, "stale", lost=overwritten(graph, again))
    assert plan.order == [1, 2]
    assert plan.reasons[1] == "needed by block 2 (its df was replaced by block 3)"
    # Block 1 ran again, then block 4: block 4 read block 1's df, block 2 is fine again.
    later = {**again, 1: RunFacts("succeeded", fps[1], fresh_run=21)}
    later[2] = RunFacts("succeeded", fps[2], fresh_run=22)
    later[4] = RunFacts("succeeded", fps[4], fresh_run=23)
    result = states(graph, fps, later)
    assert result == {1: "fresh", 2: "fresh", 3: "fresh", 4: "stale"}
    assert overwritten(graph, later) == {4: [Overwrite("df", 3, 1)]}


def test_a_block_changing_a_name_in_place_counts_as_replacing_it():
    graph = build([(1, "df = [3, 1]"), (2, "print(df[0])"), (3, "df.sort()")])
    fps = fingerprints(graph)
    facts = {1: RunFacts("succeeded", fps[1], fresh_run=1)}
    facts[3] = RunFacts("succeeded", fps[3], fresh_run=2)
    facts[2] = RunFacts("succeeded", fps[2], fresh_run=3)  # printed the sorted list
    assert states(graph, fps, facts)[2] == "stale"
    # Its own writes do not count: a block reading and replacing a name is fine.
    chain = build([(1, "df = [3, 1]"), (2, "df = sorted(df)")])
    fps = fingerprints(chain)
    facts = {b: RunFacts("succeeded", fps[b], fresh_run=b) for b in (1, 2)}
    assert states(chain, fps, facts) == {1: "fresh", 2: "fresh"}


def test_a_replaced_name_is_rebuilt_from_the_block_that_defined_it():
    """The trial's case: A defines df, B changes it in place, C reads it, D replaces it;
    C run again after D: the plan rebuilds df from A, through B, before C."""
    graph = build(
        [
            (1, "df = {'a': list(range(10))}"),
            (2, "df['b'] = df['a']"),
            (3, "print(len(df['a']))"),
            (4, "df = {'a': df['a'][:3]}"),
        ]
    )
    assert graph.built_by(2, "df") == [2, 1]
    assert graph.built_by(4, "df") == [4, 2, 1]
    fps = fingerprints(graph)
    facts = {b: RunFacts("succeeded", fps[b], fresh_run=b) for b in (1, 2, 3, 4)}
    facts[3] = RunFacts("succeeded", fps[3], fresh_run=5)
    result = states(graph, fps, facts)
    assert result[3] == "stale"
    plan = make_plan(graph, result, "stale", lost=overwritten(graph, facts))
    assert plan.order == [1, 2, 3]
    assert (
        plan.reasons[1] == plan.reasons[2] == "needed by block 3 (its df was replaced by block 4)"
    )


def test_the_reason_of_a_block_without_a_success_in_this_kernel():
    graph = build([(1, "a = 1")])
    fps = fingerprints(graph)
    cases = {
        "succeeded": "it has not run successfully since the kernel (re)started",
        "cancelled": (
            "it has not run successfully in the current kernel (its last run was cancelled "
            "before it started)"
        ),
        "interrupted": "it has not run successfully in the current kernel",
    }
    for status, reason in cases.items():
        facts = {1: RunFacts(status)}
        result = states(graph, fps, facts)
        assert result == {1: "stale"}
        assert stale_reason(graph, 1, result, facts, None, True) == reason
