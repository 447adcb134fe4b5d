"""The Python face: ``from assistant import ...``, the README's example, injected models."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO, SEEDS

import assistant


def _library_bib(n: int = 20) -> str:
    """A researcher's .bib: LongLoRA and ``n`` other bundled papers, with keys and years."""
    from assistant.ingest.dedup import merge_duplicates
    from assistant.ingest.readers import read_paths

    papers, _ = merge_duplicates(read_paths([SEEDS]).papers)
    chosen = [p for p in papers if p.title.startswith("LongLoRA")] + papers[:n]
    return "\n".join(
        f"@article{{paper{i},\n  title = {{{p.title}}},\n  year = {{2023}},\n"
        f"  abstract = {{{p.abstract}}}\n}}\n"
        for i, p in enumerate(chosen)
    )


def _readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## The Python library") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's Python library section has a python block"
    return match.group(1)


def test_every_public_name_resolves() -> None:
    for name in assistant.__all__:
        assert getattr(assistant, name) is not None, name
    for name in (
        "open_index",
        "ingest_paths",
        "search",
        "ask",
        "cite_claim",
        "related_work",
        "ChatSession",
        "Settings",
        "RetrievalOptions",
        "SearchFilters",
        "AssistantError",
    ):
        assert name in assistant.__all__


def test_importing_the_package_imports_nothing_heavy() -> None:
    code = (
        "import sys, assistant; heavy = {'numpy', 'chromadb', 'openai', 'onnxruntime', "
        "'pydantic_settings'} & set(sys.modules); sys.exit(sorted(heavy) or 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr


def test_the_readme_example_runs(tmp_path: Path) -> None:
    (tmp_path / "my-papers.bib").write_text(_library_bib(), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", _readme_example()],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "LongLoRA" in done.stdout and "[1]" in done.stdout
    assert (tmp_path / "my-index" / "catalog.sqlite").is_file()
