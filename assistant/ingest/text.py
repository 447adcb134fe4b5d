"""Text clean-up and stable paper ids: title normalisation, LaTeX to plain text, id choice."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_NON_WORD = re.compile(r"[\W_]+")
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)
_ARXIV_PREFIX = re.compile(r"^(?:arxiv:|https?://arxiv\.org/(?:abs|pdf)/)", re.IGNORECASE)
_ARXIV_VERSION = re.compile(r"v\d+$")


def clean_text(s: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends."""
    return " ".join(s.split())


#: A whole terminal escape sequence (ECMA-48): a CSI (``ESC [`` parameters, final byte), a
#: control string (OSC, DCS, SOS, PM, APC: ``ESC ]`` ... ended by BEL or ST, as OSC 8
#: hyperlinks and window titles are) or a short ``ESC`` sequence (``ESC c``, ``ESC ( B``). An
#: unterminated control string matches its two-character introducer only.
ESCAPE_SEQUENCE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)|[ -/]*[0-~])"
)
#: C0 controls (whitespace included), DEL and C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_line(s: str) -> str:
    """``s`` as one line: escape sequences removed, other control characters (newlines
    included) and every run of whitespace made one space, the ends stripped.

    For fields that are one line wherever they are shown: titles, author names, venues.
    """
    if _CONTROL.search(s) is not None:
        s = _CONTROL.sub(" ", ESCAPE_SEQUENCE.sub("", s))
    return " ".join(s.split())


# A key BibTeX, biber and pybtex all read: no spaces, braces, quotes, commas, '#', '%', '='.
_CITATION_KEY = re.compile(r"^[^\s{}(),\"'#%=\\~]+$")


def is_citation_key(text: str) -> bool:
    """True when ``text`` can be written as a BibTeX key as it is (and is not a URI)."""
    return bool(_CITATION_KEY.match(text)) and "://" not in text and len(text) <= 200


def normalize_title(title: str, *, keep_accents: bool = False) -> str:
    """Lower-case, turn punctuation into spaces and collapse spaces, for title matching.

    By default accents are stripped too, and every character that is not a letter or digit
    (underscore included) becomes a space: two titles that differ only in case, accents,
    punctuation or spacing normalise the same, ``normalize_title("Über-BERT:  a  Study")`` is
    ``"uber bert a study"``. Paper ids hash this form (:func:`make_paper_id`), so it must not
    change.

    ``keep_accents=True`` is the form gold titles of an evaluation are matched with: NFKC and
    case folding (``ß`` -> ``ss``), only Unicode punctuation and symbols become spaces, and
    accents stay (``"Über"`` and ``"Uber"`` differ).
    """
    if keep_accents:
        text = unicodedata.normalize("NFKC", title).casefold()
        text = "".join(" " if unicodedata.category(c).startswith(("P", "S")) else c for c in text)
        return clean_text(text)
    text = unicodedata.normalize("NFKD", title.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return clean_text(_NON_WORD.sub(" ", text))


_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s")


def truncate_text(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at the last sentence end before it.

    When no sentence ends in the second half of the allowed text, it is cut at the last space
    (or at ``limit``). A cut text ends with ``…``.
    """
    if len(text) <= limit:
        return text
    window = text[: limit - 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(window, limit // 2)]
    if ends:
        return window[: ends[-1]].rstrip() + " …"
    space = window.rfind(" ", limit // 2)
    return (window[:space] if space > 0 else window[: limit - 2]).rstrip() + " …"


def clip(text: str, limit: int) -> str:
    """``text`` shortened to at most ``limit`` characters (at a space, ending in ``…``)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ", limit // 2)
    return (cut[:space] if space > 0 else cut).rstrip() + "…"


def normalize_doi(doi: str) -> str:
    """A DOI without ``https://doi.org/`` or ``doi:`` prefix, lower-cased."""
    return _DOI_PREFIX.sub("", doi.strip()).strip().lower()


def normalize_arxiv_id(arxiv_id: str) -> str:
    """An arXiv id without ``arXiv:`` / URL prefix and without its version suffix (``v2``)."""
    text = _ARXIV_PREFIX.sub("", arxiv_id.strip()).strip()
    if text.lower().endswith(".pdf"):
        text = text[:-4]
    return _ARXIV_VERSION.sub("", text)


def make_paper_id(
    *, record_id: str | None, doi: str | None, arxiv_id: str | None, title: str
) -> str:
    """The paper's stable id, from the best identifier it has.

    The record's own id when it has one; else ``doi:<lower-cased doi>``; else
    ``arxiv:<id without version>``; else ``t:`` and the first 16 hex digits of the SHA-1 of
    the normalised title. The same inputs give the same id on every run and machine.
    """
    if record_id is not None and record_id.strip():
        return clean_text(record_id)
    if doi is not None and normalize_doi(doi):
        return f"doi:{normalize_doi(doi)}"
    if arxiv_id is not None and normalize_arxiv_id(arxiv_id):
        return f"arxiv:{normalize_arxiv_id(arxiv_id)}"
    key = normalize_title(title) or clean_text(title).lower()
    return "t:" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


# --- LaTeX / BibTeX to plain text -------------------------------------------------------------

# Accent commands and the Unicode combining mark each one adds to its argument.
_ACCENTS = {
    "'": "\u0301",
    "`": "\u0300",
    "^": "\u0302",
    '"': "\u0308",
    "~": "\u0303",
    "=": "\u0304",
    ".": "\u0307",
    "u": "\u0306",
    "v": "\u030c",
    "H": "\u030b",
    "c": "\u0327",
    "k": "\u0328",
    "r": "\u030a",
    "d": "\u0323",
    "b": "\u0331",
    "t": "",  # tie accent over two letters: just keep the letters
}
# Commands that stand for a character or a short text.
_SYMBOLS = {
    "ss": "ß",
    "o": "ø",
    "O": "Ø",
    "ae": "æ",
    "AE": "Æ",
    "oe": "œ",
    "OE": "Œ",
    "aa": "å",
    "AA": "Å",
    "l": "ł",
    "L": "Ł",
    "i": "ı",
    "j": "ȷ",
    "dh": "ð",
    "DH": "Ð",
    "th": "þ",
    "TH": "Þ",
    "ng": "ŋ",
    "NG": "Ŋ",
    "textendash": "–",
    "textemdash": "—",
    "ldots": "…",
    "dots": "…",
    "textellipsis": "…",
    "textquoteleft": "‘",
    "textquoteright": "’",
    "textquotedblleft": "“",
    "textquotedblright": "”",
    "guillemotleft": "«",
    "guillemotright": "»",
    "textregistered": "®",
    "texttrademark": "™",
    "copyright": "©",
    "textcopyright": "©",
    "pounds": "£",
    "euro": "€",
    "S": "§",
    "P": "¶",
    "textdegree": "°",
    "textbullet": "•",
    "textbackslash": "\\",
    "textasciitilde": "~",
    "textunderscore": "_",
    "textbraceleft": "{",
    "textbraceright": "}",
    "textasciicircum": "^",
    "textless": "<",
    "textgreater": ">",
    "textbar": "|",
    "LaTeX": "LaTeX",
    "LaTeXe": "LaTeX2e",
    "TeX": "TeX",
    "BibTeX": "BibTeX",
    "quad": " ",
    "qquad": " ",
    "newline": " ",
    "par": " ",
    "space": " ",
}
# Commands that produce nothing.
_DROPPED = {
    "relax",
    "noindent",
    "newblock",
    "protect",
    "null",
    "xspace",
    "nobreak",
    "hfill",
    "hfil",
    "break",
    "linebreak",
    "allowbreak",
    "nocite",
    "label",
    # font switches: {\bf text} -> text
    "bf",
    "it",
    "em",
    "sc",
    "rm",
    "sf",
    "tt",
    "sl",
    "bfseries",
    "itshape",
    "scshape",
    "upshape",
    "mdseries",
    "normalfont",
    "small",
    "footnotesize",
    "large",
    "Large",
    "tiny",
    "huge",
}
# Control symbols: a backslash and one non-letter character.
_CONTROL_SYMBOLS = {
    "&": "&",
    "%": "%",
    "$": "$",
    "#": "#",
    "_": "_",
    "{": "{",
    "}": "}",
    "\\": " ",
    ",": " ",
    ";": " ",
    ":": " ",
    " ": " ",
    "\n": " ",
    "\t": " ",
    "!": "",
    "-": "",
    "/": "",
    "@": "",
}
_COMMAND_NAME = re.compile(r"[A-Za-z]+")
_SPECIAL = re.compile(r"[\\{}$~`'-]")


def latex_to_text(s: str) -> str:
    """Turn a BibTeX/LaTeX string into plain text.

    Accents become accented letters (``{\\"u}`` -> ü, ``\\c{c}`` -> ç, ``{\\ss}`` -> ß), braces
    are removed, ``\\&`` -> &, ``--`` -> en dash, ``---`` -> em dash, ``~`` -> space, inline math
    ``$...$`` keeps its content, and other commands keep their argument (``\\emph{x}`` -> x).
    Whitespace is collapsed.
    """
    if _SPECIAL.search(s) is None:
        return clean_text(s)
    return clean_text(unicodedata.normalize("NFC", _LatexConverter(s).run()))


class _LatexConverter:
    """A small recursive scanner over one LaTeX string."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)

    def run(self) -> str:
        return self._convert(0, self.n)

    def _group_end(self, start: int) -> int:
        """Index of the ``}`` closing the ``{`` at ``start`` (or the end of the text)."""
        depth = 0
        i = start
        while i < self.n:
            c = self.s[i]
            if c == "\\":
                i += 2
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return i
            i += 1
        return self.n

    def _skip_spaces(self, i: int, end: int) -> int:
        while i < end and self.s[i] in " \t\n\r":
            i += 1
        return i

    def _argument(self, i: int, end: int, *, dotless: bool = False) -> tuple[str, int]:
        """Read one argument at ``i``: a ``{group}``, a command or a single character."""
        if i >= end:
            return "", i
        c = self.s[i]
        if c == "{":
            close = min(self._group_end(i), end)
            inner = self.s[i + 1 : close]
            if dotless and inner.strip() in ("\\i", "\\j"):
                return inner.strip()[1], close + 1
            return self._convert(i + 1, close), close + 1
        if c == "\\":
            m = _COMMAND_NAME.match(self.s, i + 1)
            if m and dotless and m.group() in ("i", "j"):
                return m.group(), self._skip_spaces(m.end(), end)
            if m:
                return self._command(m.group(), m.end(), end)
            return _CONTROL_SYMBOLS.get(self.s[i + 1 : i + 2], self.s[i + 1 : i + 2]), i + 2
        if c == "}":
            return "", i
        return c, i + 1

    def _accent(self, mark: str, i: int, end: int) -> tuple[str, int]:
        arg, j = self._argument(i, end, dotless=True)
        if not arg:
            return "", j
        return arg[0] + mark + arg[1:], j

    def _command(self, name: str, i: int, end: int) -> tuple[str, int]:
        """Convert the command ``\\name`` whose name ends at ``i``; return text and next index."""
        j = self._skip_spaces(i, end)
        if name in _ACCENTS and len(name) == 1:
            return self._accent(_ACCENTS[name], j, end)
        if name in _SYMBOLS:
            if j < end and self.s[j] == "{" and self.s[j + 1 : j + 2] == "}":
                j += 2  # "\ss{}" -> ß
            return _SYMBOLS[name], j
        if name in _DROPPED:
            if name in ("label", "nocite") and j < end and self.s[j] == "{":
                return "", min(self._group_end(j), end) + 1
            return "", j
        if name in ("url", "path", "texttt", "verb") and j < end and self.s[j] == "{":
            close = min(self._group_end(j), end)
            return self.s[j + 1 : close], close + 1
        if name == "href" and j < end and self.s[j] == "{":
            j = self._skip_spaces(min(self._group_end(j), end) + 1, end)
            return self._argument(j, end)
        if j < end and self.s[j] == "{":
            return self._argument(j, end)
        # An unknown command without argument: keep its name, it is most likely a word.
        return name + (" " if j > i else ""), j

    def _convert(self, start: int, end: int) -> str:
        s = self.s
        out: list[str] = []
        i = start
        special = _SPECIAL.search
        while i < end:
            m = special(s, i, end)
            if m is None:
                out.append(s[i:end])
                break
            if m.start() > i:
                out.append(s[i : m.start()])
                i = m.start()
            c = s[i]
            if c == "\\":
                if i + 1 >= end:
                    i += 1
                    continue
                nxt = s[i + 1]
                m = _COMMAND_NAME.match(s, i + 1)
                if m and m.end() <= end:
                    text, i = self._command(m.group(), m.end(), end)
                    out.append(text)
                elif nxt in _ACCENTS:
                    text, i = self._accent(_ACCENTS[nxt], i + 2, end)
                    out.append(text)
                else:
                    out.append(_CONTROL_SYMBOLS.get(nxt, nxt))
                    i += 2
            elif c in "{}":
                i += 1
            elif c == "$":
                delim = "$$" if s.startswith("$$", i) else "$"
                close = self._math_end(i + len(delim), end, delim)
                if close < 0:
                    out.append(c)
                    i += 1
                else:
                    out.append(s[i + len(delim) : close])
                    i = close + len(delim)
            elif c == "~":
                out.append(" ")
                i += 1
            elif c == "-" and s.startswith("---", i):
                out.append("—")
                i += 3
            elif c == "-" and s.startswith("--", i):
                out.append("–")
                i += 2
            elif (c == "`" and s.startswith("``", i)) or (c == "'" and s.startswith("''", i)):
                out.append('"')
                i += 2
            else:
                out.append(c)
                i += 1
        return "".join(out)

    def _math_end(self, i: int, end: int, delim: str) -> int:
        while i < end:
            if self.s[i] == "\\":
                i += 2
                continue
            if self.s.startswith(delim, i):
                return i
            i += 1
        return -1
