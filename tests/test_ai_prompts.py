"""Prompt templates: declared variables, the built-ins, and the sandbox's limits."""

from __future__ import annotations

import pytest

from ai_notebook_ext.ai.prompts import (
    BUILTINS,
    PromptTemplate,
    TemplateError,
    Variable,
    check,
    render,
)


def template(source: str, *names: str, **optional: str) -> PromptTemplate:
    variables = [Variable(n) for n in names]
    variables += [Variable(n, required=False, default=d) for n, d in optional.items()]
    return PromptTemplate("t", "", source, variables=tuple(variables))


def run(source: str, values: dict | None = None, *names: str, **optional: str) -> str:
    t = template(source, *names, **optional)
    check(t)
    return render(t, values or {}).prompt


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_builtin_is_valid_and_renders_its_required_variables(name):
    builtin = BUILTINS[name]
    check(builtin)
    required = {v.name: f"<{v.name}-value>" for v in builtin.variables if v.required}
    rendered = render(builtin, required)
    for value in required.values():
        assert value in rendered.system + rendered.prompt
    assert rendered.messages()[-1] == {"role": "user", "content": rendered.prompt}


def test_the_four_builtins_exist():
    assert set(BUILTINS) == {"generate_code", "explain_error", "fix_error", "describe_dataset"}


def test_optional_variables_take_their_defaults_and_may_be_given():
    t = BUILTINS["generate_code"]
    assert "Python" in render(t, {"request": "r"}).system
    assert "SQL" in render(t, {"request": "r", "language": "SQL"}).system
    without = render(t, {"request": "plot it"}).prompt
    assert without == "plot it"
    with_context = render(t, {"request": "plot it", "context": "df: DataFrame"}).prompt
    assert "df: DataFrame" in with_context


def test_values_are_inserted_once_and_never_rendered_again():
    assert run("{{ x }}", {"x": "{{ 7 * 6 }}"}, "x") == "{{ 7 * 6 }}"


def test_json_values_can_be_used_with_filters_and_loops():
    out = run(
        "{% for c in cols %}{{ c.name|upper }}:{{ c.type }};{% endfor %}{{ cols|length }}",
        {"cols": [{"name": "a", "type": "int"}, {"name": "b", "type": "str"}]},
        "cols",
    )
    assert out == "A:int;B:str;2"


@pytest.mark.parametrize(
    ("source", "names", "fragment"),
    [
        ("{{ y }}", ("x",), "undeclared variable(s) y"),
        ("{% for %}", (), "line 1"),
        ("{{ x|center(9) }}", ("x",), "No filter named 'center'"),
        ("{% set _iter = 1 %}", (), "names starting with '_'"),
        ("{{ x }}", ("loop",), "not a valid name"),
        ("{{ x }}", ("x", "x"), "declared twice"),
        ("{{ namespace() }}", (), "undeclared variable(s) namespace"),
        ("{{ x|indent(4) }}", ("x",), "No filter named 'indent'"),
        ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", (), "nested too deeply"),
        ("{% for a in b %}" * 25 + "{% endfor %}" * 25, ("b",), "nested too deeply"),
    ],
)
def test_bad_templates_are_refused_when_saved(source, names, fragment):
    with pytest.raises(TemplateError) as caught:
        check(template(source, *names))
    assert fragment in caught.value.message


def test_a_bad_name_is_refused():
    with pytest.raises(TemplateError) as caught:
        check(PromptTemplate("Bad Name", "", "x"))
    assert caught.value.field == "name"


def test_unknown_and_missing_values_name_the_variable():
    t = template("{{ a }}{{ b }}", "a", b="")
    with pytest.raises(TemplateError, match="has no variable\\(s\\) zz; it declares a, b"):
        render(t, {"a": 1, "zz": 2})
    with pytest.raises(TemplateError, match="needs variable\\(s\\) a"):
        render(t, {})


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("{{ ''.__class__.__mro__ }}", "unsafe"),
        ("{{ x.append(1) }}", "unsafe"),
        (
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            "loop iterations",
        ),
        ("{{ 'x' * 1000000 }}", "numbers above"),
        ("{{ 9 ** 9 ** 9 }}", "numbers above"),
        ("{{ 'x'.ljust(10000000) }}", "numbers above"),
        ("{{ '{:>100000000}'.format(1) }}", "str.format"),
        ("{{ '%100000000d' % 1 }}", "'%' string formatting"),
        (
            "{{ s|replace('', 'yyyyyyyyyyyyyyyy')|replace('', 'yyyyyyyyyyyyyyyy')"
            "|replace('', 'yyyyyyyyyyyyyyyy')|replace('', 'yyyyyyyyyyyyyyyy') }}",
            "not allowed",
        ),
        (
            "{% macro m(s, n) %}{{ m(s ~ s, n - 1) if n else s }}{% endmacro %}{{ m('x', 40) }}",
            "not allowed",
        ),
        (
            "{% macro m(n) %}{% if n %}{{ m(n-1) }}{{ m(n-1) }}{% endif %}{% endmacro %}"
            "{{ m(40) }}",
            "loop iterations and calls",
        ),
        ("{% for i in range(99999) %}{{ s }}{% endfor %}", "output is longer"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        # bytes count like text: each step is 100 KB, the whole would be 10 GB
        ("{{ ('x'.encode() * 100000) * 100000 }}", "would be built"),
        ("{{ (('x'.encode() * 100000) ~ 'y')|length }}", "not allowed"),
        ("{{ s.encode().replace('a'.encode(), 'b'.encode() * 5000)|length }}", "would be longer"),
        ("{{ ('\t' * 1000).expandtabs(100000)|length }}", "expandtabs"),
        ("{{ ('\t' * 1000).encode().expandtabs(100000)|length }}", "expandtabs"),
        ("{{ 'x'.encode() * 100001 }}", "numbers above"),
        ('{{ "a" * 100000 * 100000 }}', "would be built"),
        ("{{ s.replace('a', 'b' * 5000) }}", "would be longer"),
        ("{{ s.replace('a', 'b' * 5000)|length }}", "would be longer"),
        (
            "{% set l = range(100000)|list %}{% for i in range(60) %}"
            "{% set y = l|sort(reverse=true)|sum %}{% endfor %}",
            "loop iterations and calls",
        ),
    ],
)
def test_the_sandbox_refuses_internals_and_runaway_work(source, fragment):
    t = template(source, s="abcdefgh" * 100, x="")
    check(t)
    with pytest.raises(TemplateError) as caught:
        render(t, {"x": []})
    assert fragment in caught.value.message
