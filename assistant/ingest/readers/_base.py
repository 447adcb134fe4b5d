"""What the readers share: decoded lines with their errors, collecting results, building Papers."""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from assistant.ingest.text import clean_line, clean_text, clip, make_paper_id, truncate_text

if TYPE_CHECKING:
    from assistant.records import Paper, Reject
    from assistant.settings import Settings

# The records (pydantic models) are imported where one is made: the formats register from
# these modules, and the CLI's --format help reads their names without loading pydantic.

BOM = b"\xef\xbb\xbf"

# One line of a file: its 1-based number, its text (with the line ending; undecodable bytes
# replaced) and, when the line cannot be used, why.
Line = tuple[int, str, str | None]


def open_binary(path: Path) -> BinaryIO:
    """The file's bytes, decompressed on the fly when its name ends in ``.gz``.

    A damaged ``.gz`` (truncated, corrupt) reads up to the damage and then ends, as if the file
    ended there; ``damage(handle)`` then says what was wrong (readers report it as a reject at
    the line where the data broke off). A file that is not gzip at all raises OSError.
    """
    if path.suffix.lower() == ".gz":
        return _DamageAware(_GzipStream(path))
    return path.open("rb")


def damage(handle: object) -> str | None:
    """Why a file opened by :func:`open_binary` ended early, or None (it is whole)."""
    raw = getattr(handle, "raw", None)
    return getattr(raw, "damage", None)


class _GzipStream(io.RawIOBase):
    """Gzip members decompressed as they are read; damage ends the stream instead of raising.

    (``gzip.open`` raises on a truncated file, losing the data already decompressed with it.)
    """

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        self.damage: str | None = None
        self._position = 0
        self._pending = b""
        self._begin()
        magic = self._file.read(2)
        if magic and magic != b"\x1f\x8b":
            self._file.close()
            raise gzip.BadGzipFile("not a gzip file")
        self._file.seek(0)

    def _begin(self) -> None:
        self._file.seek(0)
        self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._in_member = False
        self._ended = False
        self._position = 0
        self._pending = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = self._position + offset if whence == io.SEEK_CUR else offset
        if whence not in (io.SEEK_SET, io.SEEK_CUR) or target < 0:
            raise OSError("a gzip stream seeks forward from the start only")
        if target < self._position:
            self._begin()
        while self._position < target:
            if not self.read(min(target - self._position, 1 << 20)):
                break
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending and not self._ended:
            self._fill()
        size = min(len(view), len(self._pending))
        view[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        self._position += size
        return size

    def _fill(self) -> None:
        decompressor = self._decompressor
        data = decompressor.unconsumed_tail or self._file.read(64 * 1024)
        if not data:
            if self._in_member and not decompressor.eof:
                self.damage = "the .gz file is truncated here (the lines before were read)"
            self._ended = True
            return
        try:
            self._pending = decompressor.decompress(data, 1 << 20)
        except zlib.error as exc:
            self.damage = f"the .gz file is damaged here ({exc}; the lines before were read)"
            self._ended = True
            return
        self._in_member = True
        if decompressor.eof:  # the next member, if any (ignoring trailing zero padding)
            rest = decompressor.unused_data
            self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self._in_member = False
            if rest.strip(b"\0"):
                self._pending += self._decompressor.decompress(rest, 1 << 20)
                self._in_member = True

    def close(self) -> None:
        self._file.close()
        super().close()


class _DamageAware(io.BufferedReader):
    """A buffered gzip stream (``damage(handle)`` reads its raw stream's damage)."""


def plain_suffix(path: Path) -> str:
    """The extension that names the format: ``papers.jsonl.gz`` -> ``.jsonl``."""
    if path.suffix.lower() == ".gz":
        return Path(path.stem).suffix.lower()
    return path.suffix.lower()


def iter_lines(path: Path) -> Iterator[Line]:
    """Yield the file's lines one at a time, decoded as UTF-8 (a leading BOM is dropped).

    A line holding NUL bytes or bytes that are not UTF-8 comes with an error message naming the
    byte and its offset in the file; its text then has the bad bytes replaced.
    """
    offset = 0
    lineno = 0
    with open_binary(path) as handle:
        for lineno, raw in enumerate(handle, start=1):  # noqa: B007 - used after the loop
            broken = damage(handle) if not raw.endswith(b"\n") else None
            if broken is not None:  # the line the data broke off in
                yield lineno, raw.decode("utf-8", errors="replace"), broken
                return
            data = raw
            skip = 0
            if lineno == 1 and raw.startswith(BOM):
                data = raw[3:]
                skip = 3
            error: str | None = None
            if b"\0" in data:
                at = offset + skip + data.index(0)
                error = f"contains NUL bytes (binary data at offset {at})"
                text = data.replace(b"\0", b"").decode("utf-8", errors="replace")
            else:
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    error = not_utf8_reason(data, exc, offset + skip)
                    text = data.decode("utf-8", errors="replace")
            yield lineno, text, error
            offset += len(raw)
        broken = damage(handle)
        if broken is not None:
            yield lineno + 1, "", broken


def not_utf8_reason(data: bytes, exc: UnicodeDecodeError, base_offset: int) -> str:
    """'not UTF-8 text (byte 0xe9 at offset 1234)' for a decoding error in ``data``."""
    return f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {base_offset + exc.start})"


PaperSink = Callable[[list["Paper"]], None]


class SinkError(Exception):
    """What the sink raised, carried past the readers' own error handling."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class FieldLimits:
    """The longest title, author name, author list and venue kept at ingest, and whether a
    record with a title but no abstract is kept.

    Far above real data (the settings ``max_title_chars``... have the same defaults): they
    bound what one bad record can put into every later result, prompt and table.
    """

    title_chars: int = 1_000
    author_chars: int = 300
    authors: int = 500
    venue_chars: int = 500
    keep_without_abstract: bool = True

    @classmethod
    def of(cls, settings: Settings) -> FieldLimits:
        return cls(
            title_chars=settings.max_title_chars,
            author_chars=settings.max_author_chars,
            authors=settings.max_authors,
            venue_chars=settings.max_venue_chars,
            keep_without_abstract=settings.keep_papers_without_abstract,
        )


#: Why a record with a title but no abstract is rejected (when those are not kept).
NO_ABSTRACT = "record has no abstract"

#: The fields a record may have cut, as each cut's reason starts (``"title of 1,300,000
#: characters cut to ..."``); the ingest report counts the cuts by these.
CUT_FIELDS = ("abstract", "title", "author name", "author list", "venue")


class Collector:
    """Gathers a file's papers and rejects as a reader finds them.

    With a ``sink``, papers are handed on in lists of ``window`` (and at the end of the file)
    instead of being kept, so a large file is never held whole; ``count`` still counts them.
    A field over its limit (``max_abstract_chars``, ``limits``) is cut, and the cut listed in
    ``truncated`` with the record's file and line.
    """

    def __init__(
        self,
        path: Path,
        sink: PaperSink | None = None,
        window: int = 4096,
        max_abstract_chars: int | None = None,
        limits: FieldLimits | None = None,
    ) -> None:
        self.path = path
        self.source = path.name
        self.papers: list[Paper] = []
        self.rejects: list[Reject] = []
        self.truncated: list[Reject] = []
        self.count = 0
        self._sink = sink
        self._window = window
        self._max_abstract = max_abstract_chars
        self._limits = limits if limits is not None else FieldLimits()

    def reject(self, location: str | None, reason: str) -> None:
        """Record a problem at ``location`` ('line 3', 'entry smith2020 (line 12)', or None)."""
        self.rejects.append(_reject(self.path, location, reason))

    def add(self, location: str | None, paper: Paper | str) -> None:
        """Keep a paper, or reject the record when ``paper`` is the reason it could not be built."""
        if isinstance(paper, str):
            self.reject(location, paper)
            return
        if not paper.abstract and not self._limits.keep_without_abstract:
            self.reject(location, NO_ABSTRACT)
            return
        paper = self._within_limits(location, paper)
        self.papers.append(paper)
        self.count += 1
        if self._sink is not None and len(self.papers) >= self._window:
            self.flush()

    def _within_limits(self, location: str | None, paper: Paper) -> Paper:
        """``paper`` with each field over its limit cut, each cut noted in ``truncated``."""
        limits = self._limits
        update: dict[str, Any] = {}

        def cut(field: str, text: str, limit: int, setting: str, cut_text: str) -> str:
            self.truncated.append(
                _reject(
                    self.path,
                    location,
                    f"{field} of {len(text):,} characters cut to {len(cut_text):,} "
                    f"({setting} = {limit:,})",
                )
            )
            return cut_text

        limit = self._max_abstract
        if limit is not None and len(paper.abstract) > limit:
            abstract = paper.abstract
            update["abstract"] = cut(
                "abstract", abstract, limit, "max_abstract_chars", truncate_text(abstract, limit)
            )
        if len(paper.title) > limits.title_chars:
            title, limit = paper.title, limits.title_chars
            update["title"] = cut("title", title, limit, "max_title_chars", clip(title, limit))
        if paper.venue is not None and len(paper.venue) > limits.venue_chars:
            venue, limit = paper.venue, limits.venue_chars
            update["venue"] = cut("venue", venue, limit, "max_venue_chars", clip(venue, limit))
        authors = paper.authors
        if len(authors) > limits.authors:
            self.truncated.append(
                _reject(
                    self.path,
                    location,
                    f"author list of {len(authors):,} names cut to the first "
                    f"{limits.authors:,} (max_authors = {limits.authors:,})",
                )
            )
            authors = update["authors"] = authors[: limits.authors]
        if any(len(name) > limits.author_chars for name in authors):
            limit = limits.author_chars
            update["authors"] = [
                cut("author name", name, limit, "max_author_chars", clip(name, limit))
                if len(name) > limit
                else name
                for name in authors
            ]
        return paper.model_copy(update=update) if update else paper

    def flush(self) -> None:
        """Hand the papers gathered so far to the sink."""
        if self._sink is None or not self.papers:
            return
        papers, self.papers = self.papers, []
        try:
            self._sink(papers)
        except Exception as exc:  # not a reading problem: it must not become a reject
            raise SinkError(exc) from exc


def _reject(path: Path, location: str | None, reason: str) -> Reject:
    from assistant.records import Reject

    return Reject(path=str(path), location=location, reason=reason)


def as_text(value: object) -> str:
    """A field's value as text: strings as they are, lists of strings joined, numbers written."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(as_text(v) for v in value if v is not None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def optional_text(value: object) -> str | None:
    """``as_text`` cleaned, or None when nothing is left."""
    if value is None:
        return None
    text = clean_text(as_text(value))
    return text or None


def parse_year(value: object) -> int | None:
    """The value as a year in 1000..2100, or None when it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip().strip("{}").strip())
        except ValueError:
            return None
    if isinstance(value, int) and 1000 <= value <= 2100:
        return value
    return None


_YEAR_IN_TEXT = re.compile(r"(?<!\d)(1\d{3}|20\d{2}|2100)(?!\d)")


def year_in_text(text: object) -> int | None:
    """The first plausible year written in a date string ('Mon, 2 Apr 2007 19:18:42 GMT')."""
    if not isinstance(text, str):
        return None
    match = _YEAR_IN_TEXT.search(text)
    return int(match.group(1)) if match else None


_AUTHOR_SEP = re.compile(r"\s*[,;]\s*|\s+and\s+|\s*&\s*")
_AUTHOR_SEP_NO_COMMA = re.compile(r"\s*;\s*|\s+and\s+")
_AUTHOR_SLOW = re.compile(r"[;&\t\n\r]|  ")
_NOT_NAMES = frozenset({"others", "et al.", "et al"})


def split_authors(value: object, *, commas: bool = True) -> list[str]:
    """Authors from a list (of names or {"name": ...} objects) or one string "A, B and C".

    With ``commas=False`` a string is split only on ';' and ' and ' (CSV columns).
    """
    names: list[str] = []
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                name = item.get("name") or " ".join(
                    as_text(item.get(k)) for k in ("first", "middle", "last") if item.get(k)
                )
                names.append(clean_text(as_text(name)))
            else:
                names.append(clean_text(as_text(item)))
    elif isinstance(value, str):
        if commas and _AUTHOR_SLOW.search(value) is None:
            # The common case, fast: no tabs, newlines or double spaces to collapse.
            names = [part.strip() for part in value.replace(" and ", ",").split(",")]
        else:
            pattern = _AUTHOR_SEP if commas else _AUTHOR_SEP_NO_COMMA
            names = [clean_text(part) for part in pattern.split(value)]
    return [name for name in names if name and name.lower() not in _NOT_NAMES]


def build_paper(
    *,
    source: str,
    title: str,
    abstract: str,
    record_id: str | None = None,
    year: int | None = None,
    authors: Iterable[str] = (),
    venue: str | None = None,
    doi: str | None = None,
    arxiv_id: str | None = None,
    url: str | None = None,
    extra: dict[str, str] | None = None,
) -> Paper | str:
    """A Paper with cleaned title and abstract and its id, or why the record cannot be one.

    A record with a title and no abstract is a Paper whose abstract is empty (a title-only
    paper; :class:`Collector` rejects it when the settings drop those). The title, author
    names and venue are made one line each (:func:`clean_line`: escape sequences and control
    characters removed); the other optional text fields are expected already cleaned (see
    ``optional_text``); empty strings become None. A DOI field holding several DOIs keeps the
    first.
    """
    title = clean_line(title)
    abstract = clean_text(abstract)
    authors = [name for name in (clean_line(a) for a in authors) if name]
    venue = clean_line(venue) if venue else None
    if not title and not abstract:
        return "record has no title and no abstract"
    if not title:
        return "record has no title"
    if doi and " " in doi:
        doi = doi.split(" ", 1)[0]
    from assistant.records import Paper

    return Paper(
        paper_id=make_paper_id(record_id=record_id, doi=doi, arxiv_id=arxiv_id, title=title),
        title=title,
        abstract=abstract,
        year=year,
        authors=list(authors),
        venue=venue or None,
        doi=doi or None,
        arxiv_id=arxiv_id or None,
        url=url or None,
        source=source,
        extra=extra or {},
    )
