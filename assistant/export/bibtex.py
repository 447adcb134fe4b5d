"""BibTeX entries with stable, readable keys (first author or title word + year)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from assistant.records import Paper

_TITLE_SKIP = {"a", "an", "the", "on", "of", "in", "for", "to", "and", "with", "towards", "toward"}


def _ascii_word(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _last_name(author: str) -> str:
    author = author.strip()
    if "," in author:
        return author.split(",", 1)[0]
    parts = author.split()
    return parts[-1] if parts else ""


def base_key(paper: Paper) -> str:
    """``lastname2023word``, or ``titleword2023`` when the paper has no authors."""
    year = str(paper.year) if paper.year else ""
    title_words = [w for w in (_ascii_word(t) for t in paper.title.split()) if w]
    first_title_word = next((w for w in title_words if w not in _TITLE_SKIP), "paper")
    if paper.authors:
        name = _ascii_word(_last_name(paper.authors[0])) or "anon"
        return f"{name}{year}{first_title_word}"
    second = next((w for w in title_words if w not in _TITLE_SKIP and w != first_title_word), "")
    return f"{first_title_word}{second}{year}" if not year else f"{first_title_word}{year}"


def assign_keys(papers: Iterable[Paper]) -> dict[str, str]:
    """A key per paper id; clashes get a, b, c... suffixes in paper-id order (stable)."""
    by_key: dict[str, list[str]] = {}
    for paper in papers:
        by_key.setdefault(base_key(paper), []).append(paper.paper_id)
    keys: dict[str, str] = {}
    for key, ids in by_key.items():
        ordered = sorted(set(ids))
        if len(ordered) == 1:
            keys[ordered[0]] = key
        else:
            for i, pid in enumerate(ordered):
                keys[pid] = f"{key}{chr(ord('a') + i)}"
    return keys


_TEXT_SPECIALS = {
    "\\": "\\textbackslash{}",
    "{": "\\textbraceleft{}",
    "}": "\\textbraceright{}",
    "~": "\\textasciitilde{}",
    "^": "\\textasciicircum{}",
    "<": "\\textless{}",
    ">": "\\textgreater{}",
    "|": "\\textbar{}",
    "&": "\\&",
    "%": "\\%",
    "$": "\\$",
    "#": "\\#",
    "_": "\\_",
}
# Inline math as arXiv writes it: ``$`` right before a non-space and right after one, no
# ``$`` inside (so "$3 and $5" is money, ``$\alpha$`` is math).
_MATH = re.compile(r"(?<![\\$])\$(?=[^\s$])((?:[^$\\]|\\.)*?[^\s$\\])\$(?!\$)", re.DOTALL)
# LaTeX already valid as it is: an accent (``\'e``, ``\"{o}``), an escaped special (``\&``) or a
# text command with one braced argument (``\emph{x}``).
_KEPT_COMMANDS = frozenset(
    [
        "emph",
        "textbf",
        "textit",
        "texttt",
        "textsc",
        "textsf",
        "textrm",
        "textsl",
        "textup",
        "textnormal",
        "mbox",
    ]
)
_ACCENT = re.compile(r"\\['`^\"~=.](?:[A-Za-z]|\{\\?[A-Za-z]\})|\\[uvHckrdbt]\{\\?[A-Za-z]\}")
_ESCAPED_SPECIAL = re.compile(r"\\[&%$#_]")
_COMMAND = re.compile(r"\\([A-Za-z]+)\{")
_MATH_FORBIDDEN = re.compile(r"[#%&]|\\(?:begin|end|par)\b")


def _braces_balance(text: str) -> bool:
    depth = 0
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _plain_braces_balance(text: str) -> bool:
    """BibTeX's own count: every brace, escaped or not."""
    depth = 0
    for char in text:
        depth += (char == "{") - (char == "}")
        if depth < 0:
            return False
    return depth == 0


def _math_ok(body: str) -> bool:
    return (
        _plain_braces_balance(body)
        and _braces_balance(body)
        and not _MATH_FORBIDDEN.search(body)
        and not body.endswith("\\")
    )


def _group_end(value: str, start: int) -> int:
    """The index after the ``}`` closing the group opened at ``value[start]``, or -1."""
    depth = 0
    for i in range(start, len(value)):
        if value[i] == "\\":
            return -1  # nested commands: not kept as they are
        if value[i] == "{":
            depth += 1
        elif value[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def _escape_text(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\":
            accent = _ACCENT.match(value, i)
            special = _ESCAPED_SPECIAL.match(value, i)
            command = _COMMAND.match(value, i)
            if accent is not None:
                out.append(accent.group(0))
                i = accent.end()
                continue
            if special is not None:
                out.append(special.group(0))
                i = special.end()
                continue
            if command is not None and command.group(1) in _KEPT_COMMANDS:
                end = _group_end(value, command.end() - 1)
                if end > 0:
                    inner = value[command.end() : end - 1]
                    out.append(f"\\{command.group(1)}{{{_escape_text(inner)}}}")
                    i = end
                    continue
        out.append(_TEXT_SPECIALS.get(char, char))
        i += 1
    return "".join(out)


def _escape(value: str) -> str:
    """Text as a BibTeX value that is also valid LaTeX.

    Inline math (``$\\alpha$``) and LaTeX that is already valid (accents, ``\\&``,
    ``\\emph{x}``) are kept; every other special character is written as a LaTeX command, braces
    included (``\\textbraceleft{}``: BibTeX counts ``\\{`` as a brace, so it would not balance).
    """
    value = " ".join(value.split())
    out: list[str] = []
    last = 0
    for match in _MATH.finditer(value):
        if not _math_ok(match.group(1)):
            continue
        out.append(_escape_text(value[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_escape_text(value[last:]))
    return "".join(out)


def _raw_field(value: str) -> str:
    """A DOI, URL or arXiv id: kept as it is, without spaces or braces (which would not balance)."""
    return "".join(value.split()).replace("{", "%7B").replace("}", "%7D")


def _name(author: str) -> str:
    """One author for BibTeX: at most two commas ("Last, Jr, First"), no stray ones."""
    parts = [p.strip() for p in author.split(",")]
    parts = [p for p in parts if p]
    if len(parts) > 3:
        parts = [parts[0], " ".join(parts[1:])]
    return _escape(", ".join(parts))


def entry(paper: Paper, key: str) -> str:
    """One BibTeX entry: ``@article`` with authors, year and venue, else ``@misc``.

    Every entry passes BibTeX's plain style without a warning: an article has the fields it
    requires, and an entry without authors has a ``key`` field to sort by.
    """
    kind = "article" if paper.venue and paper.authors and paper.year else "misc"
    fields: list[tuple[str, str]] = [("title", "{" + _escape(paper.title) + "}")]
    authors = [name for name in (_name(a) for a in paper.authors) if name]
    if authors:
        fields.append(("author", " and ".join(authors)))
    else:
        fields.append(("key", key))
    if paper.year:
        fields.append(("year", str(paper.year)))
    if paper.venue:
        fields.append(("journal", _escape(paper.venue)))
    if paper.doi:
        fields.append(("doi", _raw_field(paper.doi)))
    if paper.arxiv_id:
        fields.extend([("eprint", _raw_field(paper.arxiv_id)), ("archiveprefix", "arXiv")])
    if paper.url:
        fields.append(("url", _raw_field(paper.url)))
    fields.append(("abstract", _escape(paper.abstract)))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields if value)
    return f"@{kind}{{{key},\n{body}\n}}\n"


def bibliography(papers: list[Paper]) -> str:
    """Entries for the given papers, in the given order."""
    keys = assign_keys(papers)
    return "\n".join(entry(p, keys[p.paper_id]) for p in papers)
