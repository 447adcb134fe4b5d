"""Prompt templates: Markdown files with a small front matter and ``{variable}`` placeholders.

A prompt file looks like::

    ---
    name: answer
    variables: [question, sources]
    ---
    System instructions ...
    <!-- user -->
    <sources>
    {sources}
    </sources>
    Question: {question}

Placeholders are parsed with :class:`string.Formatter`; literal braces are written ``{{`` and
``}}``. A file is validated when it is loaded: the placeholders used must be exactly the declared
variables. The optional ``<!-- user -->`` line splits the instructions (system message) from the
data (user message); see :meth:`Prompt.messages`.

The files ship inside the package, in ``assistant/data/prompts``.
"""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import AssistantError
from assistant.ingest.text import clean_line
from assistant.text.quoting import quote_text

if TYPE_CHECKING:
    from assistant.records import Paper

__all__ = [
    "NO_ABSTRACT_NOTE",
    "USER_MARKER",
    "Prompt",
    "as_data",
    "format_sources",
    "load_prompt",
    "load_prompt_file",
    "parse_prompt",
    "prompt_names",
    "title_as_data",
]

#: A line consisting of this marker separates the system part from the user part.
USER_MARKER = "<!-- user -->"

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_FIX_HINT = (
    "Declare every placeholder in the front matter's 'variables' list and use each declared "
    "variable at least once; write literal braces as {{ and }}."
)


#: What the model is shown in place of the abstract of a paper that has none.
NO_ABSTRACT_NOTE = "(No abstract is indexed for this paper: only its title is known.)"


def as_data(text: str) -> str:
    """Text given to the model as data (abstracts, conversation) cannot open or close the
    tags it sits in: ``<`` and ``>`` become ``‹`` and ``›``."""
    return text.replace("<", "‹").replace(">", "›")


def title_as_data(title: str) -> str:
    """A paper's title given to the model as data: :func:`as_data`, on one line (control
    characters and newlines made spaces) and with its bracketed numbers shown as ``(n)``, so a
    title such as ``"[3] A (2023)\n[4] Forged"`` cannot open a source entry of its own or pass
    for a citation."""
    return as_data(quote_text(clean_line(title)))


@dataclass(frozen=True)
class Prompt:
    """A validated prompt template."""

    name: str
    variables: tuple[str, ...]
    template: str
    source: str
    description: str = ""

    @property
    def system_template(self) -> str:
        """The part before the ``<!-- user -->`` line ('' when there is none)."""
        return _split(self.template)[0]

    @property
    def user_template(self) -> str:
        """The part after the ``<!-- user -->`` line (the whole template when there is none)."""
        return _split(self.template)[1]

    def render(self, **values: object) -> str:
        """The whole prompt with ``values`` filled in (the user marker removed).

        Raises AssistantError when a declared variable is missing or an unknown one is given.
        """
        self._check(values)
        system, user = _split(self.template)
        text = "\n\n".join(part for part in (system, user) if part)
        return text.format(**{k: str(v) for k, v in values.items()})

    def messages(self, **values: object) -> list[dict[str, str]]:
        """Chat messages: a system message (if the template has one) and a user message."""
        self._check(values)
        strings = {k: str(v) for k, v in values.items()}
        system, user = _split(self.template)
        result = [{"role": "system", "content": system.format(**strings)}] if system else []
        result.append({"role": "user", "content": user.format(**strings)})
        return result

    def _check(self, values: dict[str, object]) -> None:
        missing = [v for v in self.variables if v not in values]
        extra = sorted(set(values) - set(self.variables))
        if missing:
            raise AssistantError(
                f"Prompt '{self.name}' needs a value for: {', '.join(missing)}.",
                hint=f"Its variables are: {', '.join(self.variables)} ({self.source}).",
            )
        if extra:
            raise AssistantError(
                f"Prompt '{self.name}' has no variable: {', '.join(extra)}.",
                hint=f"Its variables are: {', '.join(self.variables)} ({self.source}).",
            )


def format_sources(numbered: list[tuple[int, Paper]]) -> str:
    """Numbered abstracts, as the prompts expect them."""
    blocks = []
    for n, paper in numbered:
        year = f" ({paper.year})" if paper.year else ""
        body = as_data(paper.abstract) if paper.has_abstract else NO_ABSTRACT_NOTE
        blocks.append(f"[{n}] {title_as_data(paper.title)}{year}\n{body}")
    return "\n\n".join(blocks)


def _split(template: str) -> tuple[str, str]:
    lines = template.split("\n")
    for i, line in enumerate(lines):
        if line.strip() == USER_MARKER:
            return "\n".join(lines[:i]).strip(), "\n".join(lines[i + 1 :]).strip()
    return "", template.strip()


def parse_prompt(text: str, source: str, *, expected_name: str | None = None) -> Prompt:
    """Parse and validate a prompt file's ``text``; ``source`` names it in error messages."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise AssistantError(
            f"Prompt file {source} has no front matter.",
            hint="Start it with a '---' line, 'name: ...', 'variables: [...]' and a '---' line.",
        )
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise AssistantError(
            f"Prompt file {source}: the front matter is not closed.",
            hint="End the front matter with a line '---'.",
        ) from None
    meta = _parse_front_matter(lines[1:end], source)
    if "variables" not in meta:
        raise AssistantError(
            f"Prompt file {source}: the front matter has no 'variables' list.",
            hint="Add a line like 'variables: [question, sources]' (or 'variables: []').",
        )
    variables = _parse_list(meta["variables"], source)
    name = meta.get("name") or expected_name or Path(source).stem
    if expected_name is not None and name != expected_name:
        raise AssistantError(
            f"Prompt file {source} is named '{name}' in its front matter.",
            hint=f"Set 'name: {expected_name}' to match the file name.",
        )
    template = "\n".join(lines[end + 1 :]).strip("\n") + "\n"
    if not template.strip():
        raise AssistantError(f"Prompt file {source} has no text after its front matter.")
    used = _placeholders(template, source)
    unknown = [v for v in used if v not in variables]
    unused = [v for v in variables if v not in used]
    if unknown:
        raise AssistantError(
            f"Prompt file {source} uses the undeclared variable {{{unknown[0]}}}"
            + (f" (and {', '.join(unknown[1:])})" if unknown[1:] else "")
            + ".",
            hint=_FIX_HINT,
        )
    if unused:
        raise AssistantError(
            f"Prompt file {source} declares the variable '{unused[0]}' but never uses it"
            + (f" (nor {', '.join(unused[1:])})" if unused[1:] else "")
            + ".",
            hint=_FIX_HINT,
        )
    return Prompt(
        name=name,
        variables=tuple(variables),
        template=template,
        source=source,
        description=meta.get("description", ""),
    )


def _parse_front_matter(lines: list[str], source: str) -> dict[str, str]:
    meta: dict[str, str] = {}
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or not _NAME.match(key):
            raise AssistantError(
                f"Prompt file {source}: cannot read front matter line {line.strip()!r}.",
                hint="Front matter lines are 'key: value'.",
            )
        if key in meta:
            raise AssistantError(f"Prompt file {source}: '{key}' appears twice in front matter.")
        meta[key] = value.strip()
    return meta


def _parse_list(value: str, source: str) -> list[str]:
    inner = value.strip()
    if inner.startswith("[") and inner.endswith("]"):
        inner = inner[1:-1]
    items = [item.strip().strip("'\"") for item in inner.split(",") if item.strip()]
    for item in items:
        if not item.isidentifier():
            raise AssistantError(
                f"Prompt file {source}: '{item}' is not a valid variable name.",
                hint="Variable names are identifiers: letters, digits and '_'.",
            )
    duplicates = sorted({item for item in items if items.count(item) > 1})
    if duplicates:
        raise AssistantError(
            f"Prompt file {source}: variable '{duplicates[0]}' is declared twice.",
        )
    return items


def _placeholders(template: str, source: str) -> list[str]:
    """Names of the ``{placeholders}`` in ``template``, in order of first use."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise AssistantError(
            f"Prompt file {source}: malformed placeholder ({exc}).", hint=_FIX_HINT
        ) from exc
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            conv = f"!{conversion}" if conversion else ""
            fmt = f":{spec}" if spec else ""
            shown = f"{{{field}{conv}{fmt}}}"
            raise AssistantError(
                f"Prompt file {source}: placeholder {shown} is not a plain {{name}}.",
                hint=_FIX_HINT,
            )
        if field not in names:
            names.append(field)
    return names


def load_prompt_file(path: str | Path) -> Prompt:
    """Load and validate the prompt file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AssistantError(f"Cannot read prompt file {path}: {exc.strerror or exc}.") from exc
    return parse_prompt(text, str(path))


def _prompt_dirs() -> list[Traversable]:
    """Where prompt files live: inside the package."""
    return [resources.files("assistant") / "data" / "prompts"]


def prompt_names() -> list[str]:
    """Names of the available prompts."""
    names: set[str] = set()
    for folder in _prompt_dirs():
        if folder.is_dir():
            names.update(f.name[:-3] for f in folder.iterdir() if f.name.endswith(".md"))
    return sorted(names)


@functools.cache
def load_prompt(name: str) -> Prompt:
    """Load the prompt ``<name>.md`` (validated and cached).

    Raises AssistantError when no such prompt exists or the file is invalid.
    """
    if not _NAME.match(name):
        raise AssistantError(f"Invalid prompt name {name!r}.")
    for folder in _prompt_dirs():
        file = folder / f"{name}.md"
        if file.is_file():
            return parse_prompt(file.read_text(encoding="utf-8"), str(file), expected_name=name)
    available = ", ".join(prompt_names()) or "none"
    raise AssistantError(
        f"No prompt named '{name}'.",
        hint=f"Available prompts: {available}. Looked in: "
        + ", ".join(str(d) for d in _prompt_dirs()),
    )
