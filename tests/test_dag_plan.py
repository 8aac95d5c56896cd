"""Pipeline planning: which blocks a target runs, in which order, and why."""

from __future__ import annotations

import pytest

from ai_notebook_ext.dag.graph import build
from ai_notebook_ext.dag.plan import make_plan
from ai_notebook_ext.dag.state import fingerprints, states


def make_states(graph):
    return states(graph, fingerprints(graph), {})


# a -> b -> c, a -> d (independent of b, c), e alone
BLOCKS = [(1, "a = 1"), (2, "b = a"), (3, "c = b"), (4, "d = a"), (5, "e = 5")]


@pytest.fixture
def graph():
    return build(BLOCKS)


def test_all_runs_everything_in_order(graph):
    plan = make_plan(graph, {}, "all")
    assert plan.order == [1, 2, 3, 4, 5]
    assert set(plan.reasons.values()) == {"targeted"}


def test_stale_runs_only_what_is_not_fresh(graph):
    states = {1: "fresh", 2: "stale", 3: "stale", 4: "fresh", 5: "never-run"}
    plan = make_plan(graph, states, "stale")
    assert plan.order == [2, 3, 5]
    assert plan.reasons == {2: "stale", 3: "stale", 5: "never-run"}
    assert make_plan(graph, dict.fromkeys(range(1, 6), "fresh"), "stale").order == []


def test_upstream_runs_the_block_and_what_it_needs_unless_fresh(graph):
    assert make_plan(graph, {}, "upstream", [3]).order == [1, 2, 3]
    plan = make_plan(graph, {1: "fresh", 2: "stale", 3: "fresh"}, "upstream", [3])
    assert plan.order == [2, 3]  # the target runs even when fresh; fresh 1 does not
    assert plan.reasons == {3: "targeted", 2: "needed by block 3 (stale)"}


def test_downstream_runs_the_block_and_its_descendants(graph):
    fresh = dict.fromkeys(range(1, 6), "fresh")
    assert make_plan(graph, fresh, "downstream", [1]).order == [1, 2, 3, 4]
    assert make_plan(graph, fresh, "downstream", [2]).order == [2, 3]
    assert make_plan(graph, fresh, "downstream", [5]).order == [5]


def test_a_list_of_blocks_adds_their_unfresh_needs(graph):
    states = {1: "stale", 2: "fresh", 4: "fresh", 5: "fresh"}
    plan = make_plan(graph, states, "blocks", [4, 5])
    assert plan.order == [1, 4, 5]
    assert plan.reasons[1] == "needed by block 4 (stale)"


def test_order_respects_explicit_edges(graph):
    g = build(BLOCKS, explicit=[(5, 1)])
    assert make_plan(g, {}, "all").order == [5, 1, 2, 3, 4]


def test_unknown_target(graph):
    with pytest.raises(ValueError, match="unknown target"):
        make_plan(graph, {}, "everything")


def test_blank_blocks_never_run_and_are_always_fresh():
    graph = build([(1, "a = 1"), (2, "   \n"), (3, "b = a"), (4, "")])
    known = make_states(graph)
    assert known[2] == known[4] == "fresh"  # never ran, and nothing to hold
    assert known[1] == "never-run"
    assert make_plan(graph, known, "all").order == [1, 3]
    assert make_plan(graph, known, "stale").order == [1, 3]
    assert make_plan(graph, known, "blocks", [2, 4]).order == []
    # A comment is code JupyterLab runs too: not blank.
    assert make_plan(build([(1, "# load the data")]), {}, "all").order == [1]
