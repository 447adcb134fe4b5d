"""Files the assistant writes never lose the user's; a full disk is named; the derived model is
verified.

Output files (``--bib``, ``--out``...) are written atomically and replace an existing file only
when the assistant wrote it (and nobody changed it since) or with ``--force``. A full disk is a
real small tmpfs (mounted as root, as this sandbox and CI run; skipped with the reason where
mounting is not permitted). stdout goes to the real ``/dev/full`` and to a closed pipe.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assistant.embeddings import MiniLMEmbedder, make_embedder
from assistant.embeddings.minilm_int8 import DERIVED_NAME
from assistant.errors import AssistantError, UsageError
from assistant.output_files import write_output_file
from assistant.settings import Settings

TEXTS = [
    "LongLoRA extends the context window of LLaMA models with shifted sparse attention.",
    "Coral reefs bleach when sea temperatures rise.",
]
USER_TEXT = "% my own bibliography, edited by hand\n" + "@misc{mine, title={Mine}}\n" * 300


def papers_bib(path: Path, index_dir: Path, *extra: str) -> list[str]:
    return ["papers", "--limit", "0", "--bib", str(path), "--index", str(index_dir), *extra]


def assert_one_clean_error(stderr: str) -> None:
    assert "Traceback" not in stderr and "unexpected" not in stderr, stderr
    assert "Aborted" not in stderr and "Exception ignored" not in stderr, stderr


# --- replacing files -------------------------------------------------------------------------


def test_a_users_file_is_refused_without_force_and_replaced_with_it(
    run_cli, small_index_dir: Path, tmp_path: Path
) -> None:
    mine = tmp_path / "mine.bib"
    mine.write_text(USER_TEXT)

    refused = run_cli(papers_bib(mine, small_index_dir))
    assert refused.exit_code == 2, refused
    assert "mine.bib already exists and was not written by the assistant" in refused.stderr
    assert "--force" in refused.stderr
    assert_one_clean_error(refused.stderr)
    assert mine.read_text() == USER_TEXT

    forced = run_cli(papers_bib(mine, small_index_dir, "--force"))
    assert forced.exit_code == 0, forced
    assert mine.read_text().startswith("@") and "Mine" not in mine.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_the_same_command_again_replaces_its_own_file_but_not_one_edited_since(
    run_cli, small_index_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.bib"
    assert run_cli(papers_bib(out, small_index_dir)).exit_code == 0
    first = out.read_text()
    again = run_cli(papers_bib(out, small_index_dir))
    assert again.exit_code == 0, again
    assert out.read_text() == first

    out.write_text(first + "% a note of mine\n")
    refused = run_cli(papers_bib(out, small_index_dir))
    assert refused.exit_code == 2, refused
    assert "was changed since the assistant wrote it" in refused.stderr
    assert out.read_text().endswith("% a note of mine\n")


def test_every_writing_command_refuses_before_the_work(
    run_cli, small_index_dir: Path, tmp_path: Path
) -> None:
    mine = tmp_path / "mine.md"
    mine.write_text("my draft\n")
    index = ["--index", str(small_index_dir)]
    commands = [
        [
            "related-work",
            "chain-of-thought reasoning in large language models",
            "--out",
            str(mine),
            *index,
        ],
        ["related-work", "chain-of-thought reasoning", "--csl-json", str(mine), *index],
        ["cite", "Low-rank adapters match full fine-tuning", "--ris", str(mine), *index],
        ["papers", "--csl-json", str(mine), *index],
    ]
    for args in commands:
        result = run_cli(args)
        assert result.exit_code == 2, (args, result)
        assert "--force" in result.stderr and result.stdout == "", (args, result)
        assert mine.read_text() == "my draft\n"
    assert run_cli([*commands[0], "--force"]).exit_code == 0
    assert "Extractive draft" in mine.read_text()


def test_through_a_symlink_the_target_is_replaced_and_the_link_stays(
    run_cli, small_index_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "refs.bib"
    target.write_text(USER_TEXT)
    target.chmod(0o640)
    link = tmp_path / "link.bib"
    link.symlink_to(target)

    assert run_cli(papers_bib(link, small_index_dir)).exit_code == 2
    assert target.read_text() == USER_TEXT and link.is_symlink()
    assert run_cli(papers_bib(link, small_index_dir, "--force")).exit_code == 0
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert target.read_text().startswith("@")
    assert target.stat().st_mode & 0o777 == 0o640  # the file keeps its permissions
    # Written by the assistant now: through the link or directly, no --force needed.
    assert run_cli(papers_bib(link, small_index_dir)).exit_code == 0
    assert run_cli(papers_bib(target, small_index_dir)).exit_code == 0


def run_on_terminal(args: list[str], answer: str, cwd: Path) -> tuple[int, str]:
    """Run the command with stdin, stdout and stderr on a pseudo-terminal, typing ``answer``
    once it asks; returns the exit code and everything the terminal showed."""
    import pty
    import select
    import time

    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", *args],
        stdin=child_fd, stdout=child_fd, stderr=child_fd, cwd=cwd, env=assistant_env(),
    )  # fmt: skip
    os.close(child_fd)
    shown = b""
    deadline = time.monotonic() + 120
    answered = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main_fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main_fd, 4096)
            except OSError:  # the terminal closed: the command ended
                break
            shown += chunk
        if not answered and b"Replace it?" in shown:
            os.write(main_fd, answer.encode() + b"\r")
            answered = True
        if proc.poll() is not None and not ready:
            break
    os.close(main_fd)
    return proc.wait(timeout=60), shown.decode(errors="replace")


@pytest.mark.parametrize("answer", ["y", "n"])
def test_on_a_terminal_the_command_asks_before_replacing(
    small_index_dir: Path, tmp_path: Path, answer: str
) -> None:
    mine = tmp_path / "mine.bib"
    mine.write_text(USER_TEXT)
    code, shown = run_on_terminal(papers_bib(mine, small_index_dir), answer, tmp_path)
    assert "mine.bib already exists and was not written by the assistant. Replace it?" in shown
    if answer == "y":
        assert code == 0, shown
        assert mine.read_text().startswith("@")
    else:
        assert code == 2, shown
        assert "was not replaced" in shown and mine.read_text() == USER_TEXT


def test_chat_export_asks_for_force_over_a_users_file(run_cli, small_index_dir: Path) -> None:
    Path("notes.md").write_text("my notes\n")
    result = run_cli(
        ["chat", "--index", str(small_index_dir)],
        input="What is LongLoRA?\n/export md notes.md\n/export md notes.md --force\n",
    )
    assert result.exit_code == 0, result
    assert "notes.md already exists" in result.stdout + result.stderr
    assert Path("notes.md").read_text().startswith("# Conversation")


def test_an_empty_file_and_dev_stdout_are_written_without_asking(tmp_path: Path) -> None:
    empty = tmp_path / "empty.bib"
    empty.touch()
    write_output_file(empty, "@misc{a}\n")
    assert empty.read_text() == "@misc{a}\n"
    folder = tmp_path / "folder.bib"
    folder.mkdir()
    with pytest.raises(UsageError, match="is a folder"):
        write_output_file(folder, "x")


# --- a full disk -----------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KB filesystem (tmpfs), mounted for this test."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0777", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path, leave: int = 0) -> None:
    """Fill the disk of ``folder`` until at most ``leave`` bytes are free."""
    with (folder / "filler").open("ab") as handle:
        while shutil.disk_usage(folder).free > leave:
            try:
                handle.write(b"\0" * 4096)
                handle.flush()
            except OSError:
                break


def test_an_existing_file_survives_a_failed_write_on_a_full_disk(
    run_cli, small_index_dir: Path, small_disk: Path
) -> None:
    precious = small_disk / "precious.bib"
    precious.write_bytes(USER_TEXT.encode()[:9000])
    fill(small_disk)

    result = run_cli(papers_bib(precious, small_index_dir, "--force"))
    assert result.exit_code == 1, result
    assert "The disk is full: cannot write the file" in result.stderr, result.stderr
    assert "precious.bib" in result.stderr and "needed" in result.stderr
    assert_one_clean_error(result.stderr)
    assert precious.read_bytes() == USER_TEXT.encode()[:9000]
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "precious.bib"]


def test_deriving_the_model_on_a_full_disk_says_so(
    run_cli, small_index_dir: Path, small_disk: Path
) -> None:
    env = {"ASSISTANT_MODEL_CACHE_DIR": str(small_disk / "models")}
    result = run_cli(["search", "sparse attention", "--method", "dense", "--index",
                      str(small_index_dir)], env=env)  # fmt: skip
    assert result.exit_code == 1, result
    assert "The disk is full: cannot write the derived embedding model" in result.stderr
    assert "MB needed" in result.stderr and "ASSISTANT_MODEL_CACHE_DIR" in result.stderr
    assert_one_clean_error(result.stderr)


def test_a_disk_that_fills_during_the_derivation_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the space check (another writer fills the disk meanwhile): onnxruntime's
    "Protobuf serialization failed" and onnx's ENOSPC are both a full disk."""
    import assistant.embeddings.minilm_int8 as minilm_int8

    folder = tmp_path / "medium-disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=30m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        monkeypatch.setattr(minilm_int8, "DERIVE_SPACE_NEEDED", 1)
        with pytest.raises(AssistantError) as caught:
            MiniLMEmbedder(quantized=True, model_cache_dir=folder).embed(TEXTS)
        assert caught.value.message.startswith("The disk is full"), caught.value
        assert "ASSISTANT_MODEL_CACHE_DIR" in (caught.value.hint or "")
        assert [p.name for p in folder.iterdir() if p.name != ".derive.lock"] == []
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def index_disk(small_index_dir: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the small index on a tmpfs of its own, 4 MB larger than the index."""
    folder = tmp_path / "index-disk"
    folder.mkdir()
    size = sum(p.stat().st_size for p in small_index_dir.rglob("*") if p.is_file())
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size + 4_000_000}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        shutil.copytree(small_index_dir, folder / "index")
        yield folder / "index"
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_command_on_a_full_index_disk_says_the_disk_is_full(run_cli, index_disk: Path) -> None:
    (index_disk / "lexical.npz").unlink()
    fill(index_disk.parent)
    result = run_cli(["search", "sparse attention", "--index", str(index_disk)])
    assert result.exit_code == 1, result
    assert "The disk is full" in result.stderr and str(index_disk.parent) in result.stderr
    assert_one_clean_error(result.stderr)


def test_search_caches_not_saved_on_a_full_disk_are_a_notice(
    index_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from assistant.api import open_index

    index = open_index(Settings(index_dir=index_disk))
    try:
        (index_disk / "lexical.npz").unlink()
        fill(index_disk.parent)
        with caplog.at_level("WARNING", logger="assistant"):
            assert index.lexical is not None  # rebuilt from the catalog, not saved
        assert "The disk is full: cannot write the search caches" in caplog.text
        assert "rebuilt" in caplog.text
    finally:
        index.close()


# --- stdout ----------------------------------------------------------------------------------


def assistant_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "OPENAI_"))}
    env["ASSISTANT_MODEL_CACHE_DIR"] = os.environ["ASSISTANT_MODEL_CACHE_DIR"]
    return env


def test_stdout_on_a_full_device_is_one_line(small_index_dir: Path) -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "assistant", "search", "sparse attention", "--index",
             str(small_index_dir)],
            stdout=full, stderr=subprocess.PIPE, text=True, env=assistant_env(), timeout=180,
        )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == "Error: Cannot write the output: No space left on device."


def test_a_closed_pipe_is_quiet(small_index_dir: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "papers", "--limit", "0", "--index",
         str(small_index_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=assistant_env(),
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # as `| head` does once it has its lines
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=180) == 141
    assert stderr == ""


# --- the derived model -----------------------------------------------------------------------


@pytest.fixture
def derived_copy(model_cache_dir: Path, tmp_path: Path) -> Path:
    """A cache folder holding an intact copy of the session's derived model (and its stamp)."""
    MiniLMEmbedder(quantized=True, model_cache_dir=model_cache_dir).embed(TEXTS[:1])
    cache = tmp_path / "cache"
    cache.mkdir()
    for name in (DERIVED_NAME, DERIVED_NAME + ".sha256", DERIVED_NAME + ".verified"):
        shutil.copy2(model_cache_dir / name, cache / name)
    return cache


@pytest.mark.parametrize("where", ["header", "weights"])
def test_a_derived_model_changed_at_the_same_size_is_derived_again(
    derived_copy: Path, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    expected = MiniLMEmbedder(quantized=True, model_cache_dir=derived_copy).embed(TEXTS)
    model = derived_copy / DERIVED_NAME
    data = bytearray(model.read_bytes())
    # The protobuf's first bytes (unreadable), or the middle of the weights (wrong vectors).
    start = 2 if where == "header" else len(data) // 2
    data[start : start + 64] = bytes(255 - b for b in data[start : start + 64])
    model.write_bytes(bytes(data))
    assert model.stat().st_size == len(data)

    with caplog.at_level("WARNING", logger="assistant"):
        vectors = MiniLMEmbedder(quantized=True, model_cache_dir=derived_copy).embed(TEXTS)
    assert "deriving it again" in caplog.text
    np.testing.assert_allclose(vectors, expected, atol=1e-6)
    exact = MiniLMEmbedder().embed(TEXTS)
    assert (vectors * exact).sum(axis=1).min() > 0.97
    assert model.read_bytes() != bytes(data)


def test_the_derived_model_is_hashed_only_when_its_time_changes(
    derived_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import assistant.checked_files as files

    hashed: list[Path] = []
    real_sha256 = files.sha256_of
    monkeypatch.setattr(files, "sha256_of", lambda p: hashed.append(p) or real_sha256(p))
    model = derived_copy / DERIVED_NAME
    load = MiniLMEmbedder(quantized=True, model_cache_dir=derived_copy)
    assert load._model_path() == model and hashed == []  # stamped at this size and time

    os.utime(model, ns=(model.stat().st_atime_ns, model.stat().st_mtime_ns + 10**9))
    stamp_before = model.stat().st_mtime_ns
    assert load._model_path() == model and hashed == [model]  # checked once, still intact
    assert model.stat().st_mtime_ns == stamp_before  # not derived again
    assert load._model_path() == model and hashed == [model]  # the check was remembered


def test_the_model_cache_is_per_user_by_default_not_in_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSISTANT_MODEL_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    index_dir = tmp_path / "idx"
    embedder = make_embedder(Settings(index_dir=index_dir))
    assert isinstance(embedder, MiniLMEmbedder)
    home_cache = tmp_path / "home" / ".cache" / "literature-assistant" / "models"
    assert embedder.model_cache_dir == home_cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    embedder = make_embedder(Settings(index_dir=index_dir))
    assert isinstance(embedder, MiniLMEmbedder)
    assert embedder.model_cache_dir == tmp_path / "xdg" / "literature-assistant" / "models"
    assert index_dir not in embedder.model_cache_dir.parents


def test_two_processes_deriving_at_once_both_get_the_same_intact_model(tmp_path: Path) -> None:
    cache = tmp_path / "shared-cache"
    script = (
        "import sys; from pathlib import Path; from assistant.embeddings import MiniLMEmbedder; "
        "v = MiniLMEmbedder(quantized=True, model_cache_dir=Path(sys.argv[1])).embed(["
        f"{TEXTS[0]!r}]); print(' '.join(f'{{x:.6f}}' for x in v[0][:8]))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(cache)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=assistant_env(),
        )  # fmt: skip
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert outputs[0][0] == outputs[1][0] and outputs[0][0].strip()
    assert sorted(p.name for p in cache.iterdir()) == [
        ".derive.lock",
        DERIVED_NAME,
        DERIVED_NAME + ".sha256",
        DERIVED_NAME + ".verified",
    ]
