"""The installed package enables its server extension and labextension with no extra step."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def jupyter(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter", *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return ANSI.sub("", proc.stdout + proc.stderr)


def test_server_extension_is_enabled_and_ok():
    out = jupyter("server", "extension", "list")
    assert re.search(r"ai_notebook_ext\s+enabled", out), out
    assert re.search(r"ai_notebook_ext \S+ OK", out), out


def test_labextension_is_installed_enabled_and_ok():
    out = jupyter("labextension", "list")
    line = next((ln for ln in out.splitlines() if "ai-notebook-ext" in ln), None)
    if line is None:
        pytest.fail(f"ai-notebook-ext missing from `jupyter labextension list`:\n{out}")
    assert "enabled" in line
    assert "OK" in line
    assert "(python, ai_notebook_ext)" in line


def test_help_all_lists_every_option_with_help():
    out = jupyter("ai-notebook", "--help-all")
    for trait in ("database_url", "data_dir", "admin_users", "single_user", "max_request_bytes"):
        match = re.search(rf"--AINotebookApp\.{trait}=.*\n(\s+\S.*\n)", out)
        assert match, f"{trait} missing or without help:\n{out[:2000]}"
