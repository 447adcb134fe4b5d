"""BibTeX entries, written with bibtexparser, with the user's own keys or stable readable ones.

A paper read from the user's library (a .bib, CSL-JSON or RIS file) keeps its citation key;
the others get ``lastname2023word`` keys. Keys are unique in one written file. Values are
escaped here so that every entry is valid LaTeX and passes BibTeX (plain style) without a
warning (bibtexparser's own LaTeX encoder would write ``\\{``, which BibTeX counts as a brace).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

from assistant.ingest.text import is_citation_key
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


def _suffixes() -> Iterator[str]:
    """a, b, ... z, aa, ab, ..."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    yield from letters
    for first in letters:
        for second in letters:
            yield first + second


def _free(key: str, taken: set[str]) -> str:
    """``key`` with the first suffix that no key in ``taken`` (lower-cased) has."""
    return next(key + s for s in _suffixes() if (key + s).lower() not in taken)


def assign_keys(papers: Iterable[Paper]) -> dict[str, str]:
    """A key per paper id, unique (ignoring case, as BibTeX does) and stable.

    A paper with a citation key from the user's library keeps it; when two papers claim one
    key, the first in paper-id order keeps it and the other gets a, b... Every other paper gets
    its :func:`base_key`; clashes get a, b, c... suffixes in paper-id order, and a generated
    key never takes a key of the user's.
    """
    unique = {p.paper_id: p for p in papers}
    keys: dict[str, str] = {}
    claims: dict[str, list[str]] = {}  # a library key (lower-cased) -> the papers claiming it
    generated: dict[str, list[str]] = {}
    for pid in sorted(unique):
        own = unique[pid].citation_key
        if own and is_citation_key(own):
            claims.setdefault(own.lower(), []).append(pid)
        else:
            generated.setdefault(base_key(unique[pid]), []).append(pid)
    taken = set(claims)
    for first, *others in claims.values():
        keys[first] = str(unique[first].citation_key)
        for pid in others:
            keys[pid] = _free(str(unique[pid].citation_key), taken)
            taken.add(keys[pid].lower())
    for key, ids in sorted(generated.items()):
        if len(ids) == 1 and key.lower() not in taken:
            keys[ids[0]] = key
            taken.add(key.lower())
            continue
        for pid in ids:  # already in paper-id order
            keys[pid] = _free(key, taken)
            taken.add(keys[pid].lower())
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


def entry_fields(paper: Paper, key: str) -> tuple[str, list[tuple[str, str]]]:
    """The entry type and its ``(field, BibTeX value without the outer braces)`` pairs.

    ``@article`` with authors, year and venue, else ``@misc``; an entry without authors has a
    ``key`` field (the plain style sorts by it).
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
    keywords = paper.extra.get("keywords")
    if keywords:
        fields.append(("keywords", _escape(keywords)))
    fields.append(("abstract", _escape(paper.abstract)))
    return kind, [(name, value) for name, value in fields if value]


def _write(papers: list[Paper], keys: dict[str, str]) -> str:
    """The entries, written by bibtexparser (fields indented by two spaces, a blank line
    between entries)."""
    import bibtexparser
    from bibtexparser.library import Library
    from bibtexparser.model import Entry, Field

    library = Library()
    for paper in papers:
        kind, fields = entry_fields(paper, keys[paper.paper_id])
        library.add(
            Entry(kind, keys[paper.paper_id], [Field(k, "{" + v + "}") for k, v in fields]),
            fail_on_duplicate_key=False,
        )
    layout = bibtexparser.BibtexFormat()
    layout.indent = "  "
    layout.value_column = 0
    layout.block_separator = "\n"
    return bibtexparser.write_string(library, unparse_stack=[], bibtex_format=layout)


def entry(paper: Paper, key: str) -> str:
    """One BibTeX entry (see :func:`entry_fields`), ending in a newline.

    Every entry passes BibTeX's plain style without a warning: an article has the fields it
    requires, and an entry without authors has a ``key`` field to sort by.
    """
    return _write([paper], {paper.paper_id: key})


def bibliography(papers: list[Paper], keys: dict[str, str] | None = None) -> str:
    """Entries for the given papers, in the given order (keys from :func:`assign_keys` unless
    given)."""
    if not papers:
        return ""
    return _write(papers, keys if keys is not None else assign_keys(papers))
