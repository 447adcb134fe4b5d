"""What users expect of a CLI: shell completion (Typer's), ``--json`` on every command that
prints results, and ``assistant --help`` that starts without the heavy libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer

from assistant.cli.root import app

REPO = Path(__file__).resolve().parent.parent
# Commands that print no results to parse: 'mcp' speaks the MCP protocol on stdout, 'serve'
# serves pages.
NO_RESULTS = {"mcp", "serve"}


def _assistant(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True, text=True, env={**os.environ, **env}, cwd=cwd, timeout=120,
    )  # fmt: skip


def _complete(words: str, tmp_path: Path) -> list[str]:
    """What bash completion offers for the last word of ``words`` (Typer's protocol)."""
    parts = words.split(" ")
    done = _assistant(
        [], {"_ASSISTANT_COMPLETE": "complete_bash", "COMP_WORDS": words,
             "COMP_CWORD": str(len(parts) - 1)}, tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def _commands() -> dict[str, Any]:
    """Every leaf command of the app by its full name ('papers show'), groups included when
    they print something themselves (their callback runs without a sub-command)."""
    root = typer.main.get_command(app)
    found: dict[str, Any] = {}

    def walk(command: Any, name: str) -> None:
        if hasattr(command, "commands"):  # a group (typer ships its own click)
            if command.invoke_without_command and name:
                found[name] = command
            for sub_name, sub in command.commands.items():
                walk(sub, f"{name} {sub_name}".strip())
        else:
            found[name] = command

    walk(root, "")
    return found


def test_completion_is_installed_and_completes_commands_and_options(tmp_path: Path) -> None:
    # Typer's own switch: take the shell named, not the one found in the process tree (none
    # when the tests run under a process that is not a shell).
    explicit = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    shown = _assistant(["--show-completion", "bash"], explicit, tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "complete -o default -F _assistant_completion assistant" in shown.stdout
    home = tmp_path / "home"
    home.mkdir()
    installed = _assistant(
        ["--install-completion", "bash"], {"HOME": str(home), **explicit}, tmp_path
    )
    assert installed.returncode == 0, installed.stderr
    script = home / ".bash_completions" / "assistant.sh"
    assert "_ASSISTANT_COMPLETE=complete_bash" in script.read_text()
    assert str(script) in (home / ".bashrc").read_text()
    assert _complete("assistant pa", tmp_path) == ["papers"]
    assert sorted(_complete("assistant logs s", tmp_path)) == ["search", "show"]
    assert "--csl-json" in _complete("assistant cite claim --cs", tmp_path)
    assert _complete("assistant ask q --us", tmp_path) == ["--usage"]


def test_every_command_that_prints_results_has_json() -> None:
    commands = _commands()
    assert {"search", "ask", "cite", "related-work", "papers", "papers show", "stats", "config",
            "eval", "ingest", "chat", "sessions", "sessions show", "logs", "logs show",
            "logs search"} <= set(commands)  # fmt: skip
    missing = [
        name
        for name, command in commands.items()
        if name not in NO_RESULTS
        and not any("--json" in p.opts for p in command.params if p.param_type_name == "option")
    ]
    assert missing == []


def test_export_and_usage_options_are_where_the_issue_puts_them() -> None:
    commands = _commands()

    def options(name: str) -> set[str]:
        return {o for p in commands[name].params for o in p.opts}

    for name in ("cite", "related-work", "papers"):
        assert {"--bib", "--ris", "--csl-json"} <= options(name), name
    for name in ("ask", "cite", "related-work", "chat"):
        assert {"-u", "--usage"} <= options(name), name


def test_help_imports_no_heavy_library(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom assistant.cli.root import app\n"
        "try:\n    app(['--help'], prog_name='assistant')\nexcept SystemExit:\n    pass\n"
        "heavy = {'numpy', 'chromadb', 'openai', 'onnxruntime', 'pydantic_settings', 'rich',"
        " 'bibtexparser', 'rispy', 'pylatexenc', 'sqlite3'} & set(sys.modules)\n"
        "sys.exit(sorted(heavy) or 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "--install-completion" in done.stdout


def test_json_outputs_parse(run_cli: Any, small_index_dir: Path, tmp_path: Path) -> None:
    index = ["--index", str(small_index_dir)]
    papers = run_cli(["papers", "--limit", "3", "--json", *index])
    assert papers.exit_code == 0, papers.stderr
    listed = json.loads(papers.stdout)
    assert listed["count"] == 24 and len(listed["papers"]) == 3
    first = listed["papers"][0]["paper_id"]
    for args in (["papers", "show", first], ["stats"], ["search", "medical texts"]):
        done = run_cli([*args, "--json", *index])
        assert done.exit_code == 0, done.stderr
        assert isinstance(json.loads(done.stdout), dict), args
    chat = run_cli(
        ["chat", "--json", *index], input="What is Graph-of-Thought reasoning?\n/sources\n"
    )
    assert chat.exit_code == 0, chat.stderr
    turn, command = (json.loads(line) for line in chat.stdout.splitlines())
    assert turn["turn"] == 1 and turn["question"] == "What is Graph-of-Thought reasoning?"
    assert turn["session_id"] and turn["citations"]
    assert command["command"] == "/sources" and command["kind"] == "sources"
    assert command["lines"]  # the cited papers
