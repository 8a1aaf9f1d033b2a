"""The README is true (issue #18, item 9): every `claimflow ...` command it names exists,
with the options and choices it names, and answers --help; every `make` target it names is
in the Makefile and dry-runs; every demo summary key is explained in it."""

from __future__ import annotations

import re
import shutil
import subprocess

import click
import pytest
from click.testing import CliRunner

from claimflow_app.cli import main
from claimflow.settings import REPO_ROOT
from claimflow_app.runner import RUNNABLE
from services.ops.summary import EXPLAIN

README = (REPO_ROOT / "README.md").read_text()
MAKEFILE = (REPO_ROOT / "Makefile").read_text()


def _snippets() -> list[str]:
    """Every claimflow invocation in the README: inline code and code-block lines."""
    text = README.replace("\\|", "|")
    found = re.findall(r"`(?:\.venv/bin/)?claimflow ([^`]+)`", text)
    for block in re.findall(r"```(?:bash)?\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            for part in re.split(r"&&|;", line.split("#", 1)[0]):
                m = re.match(r"\s*(?:\.venv/bin/|\$\(CF\) )?claimflow (.+)", part)
                if m:
                    found.append(m.group(1).rstrip(" &"))
    return sorted(set(found))


def _make_targets() -> list[str]:
    text = README.replace("\\|", "|")
    targets = set(re.findall(r"`make ([a-z][a-z0-9-]*)", text))
    targets |= set(re.findall(r"`make [a-z-]+` / `make ([a-z][a-z0-9-]*)`", text))
    for block in re.findall(r"```(?:bash)?\n(.*?)```", text, flags=re.S):
        targets |= set(re.findall(r"(?:^|&&|;)\s*make ([a-z][a-z0-9-]*)", block, flags=re.M))
    return sorted(targets)


def _resolve(tokens: list[str], cmd: click.Command, path: list[str], problems: list[str], leaves: list[tuple[list[str], click.Command, list[str]]]):
    if isinstance(cmd, click.Group) and tokens:
        alts = tokens[0].split("|")
        if all(a in cmd.commands for a in alts):
            for a in alts:
                _resolve(tokens[1:], cmd.commands[a], path + [a], problems, leaves)
            return
        if not tokens[0].startswith(("-", "[")):
            problems.append(f"`claimflow {' '.join(path)} {tokens[0]}`: no such command (have {', '.join(sorted(cmd.commands))})")
            return
    leaves.append((path, cmd, tokens))


def _check_leaf(path: list[str], cmd: click.Command, rest: list[str], problems: list[str]) -> None:
    text = " ".join(rest)
    names = {n for p in cmd.params for n in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])}
    for opt in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text):
        if opt not in names:
            problems.append(f"`claimflow {' '.join(path)}` has no option {opt}")
    args = [p for p in cmd.params if isinstance(p, click.Argument)]
    positional = [t for t in rest if re.fullmatch(r"[a-z0-9][a-z0-9|-]*", t)]
    if args and positional and isinstance(args[0].type, click.Choice):
        for alt in positional[0].split("|"):
            if alt not in args[0].type.choices:
                problems.append(f"`claimflow {' '.join(path)} {alt}`: not one of {', '.join(args[0].type.choices)}")
    if path == ["run"] and positional:
        for alt in positional[0].split("|"):
            if alt not in (*RUNNABLE, "all"):
                problems.append(f"`claimflow run {alt}`: not a service ({', '.join(RUNNABLE)}, all)")


def test_readme_names_claimflow_commands():
    assert len(_snippets()) > 25


def test_every_documented_claimflow_command_exists_with_its_options():
    problems: list[str] = []
    leaves: list = []
    for snippet in _snippets():
        _resolve(snippet.split(), main, [], problems, leaves)
    for path, cmd, rest in leaves:
        _check_leaf(path, cmd, rest, problems)
    assert problems == []
    runner = CliRunner()
    for path in sorted({tuple(p) for p, _, _ in leaves}):
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
    assert {("run",), ("dlq", "replay"), ("refdata", "import"), ("ingest", "fhir"), ("x12", "export")} <= {tuple(p) for p, _, _ in leaves}


def test_checker_catches_what_does_not_exist():
    problems: list[str] = []
    leaves: list = []
    for snippet in ["topics purge", "run coderr", "dlq replay --everything", "refdata import ptp|foo SRC"]:
        _resolve(snippet.split(), main, [], problems, leaves)
    for path, cmd, rest in leaves:
        _check_leaf(path, cmd, rest, problems)
    assert len(problems) == 4, problems


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_every_documented_make_target_exists():
    targets = _make_targets()
    assert {"demo", "test", "kafka-up", "kafka-down", "bench", "reliability"} <= set(targets)
    declared = set(re.findall(r"^([a-z][a-z0-9-]*):", MAKEFILE, flags=re.M))
    assert set(targets) <= declared, set(targets) - declared
    for t in targets:
        proc = subprocess.run(["make", "-n", "-C", str(REPO_ROOT), t], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, (t, proc.stderr)


def test_every_demo_summary_key_is_explained_in_the_readme():
    missing = [k for k in EXPLAIN if f"`{k}`" not in README]
    assert missing == []


def test_readme_documents_what_the_newcomer_trial_missed():
    for needle in ("refdata import ptp|mue|addon|hcpcs|mce|carc|rarc|icd10cm", "POST 127.0.0.1:6104/fhir/Bundle", "--reference",
                   "already does this continuously", "claimflow dlq replay"):
        assert needle in README.replace("\\|", "|"), needle
