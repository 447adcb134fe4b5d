"""A real BibTeX toolchain for the tests: pybtex parses and formats (plain style) every entry.

Any error or warning pybtex reports (unbalanced braces, missing required fields, bad names,
LaTeX it cannot parse) fails the check.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings

_MATH = re.compile(r"(?<!\\)\$[^$]*(?<!\\)\$")
_ESCAPED = re.compile(r"\\[&%$#_{}^~\\]")


def latex_text_problems(value: str) -> list[str]:
    """Characters pdflatex stops at in text mode ("Missing $ inserted" for ``^`` and ``_``)."""
    text = _MATH.sub("", _ESCAPED.sub("", value))
    return [f"bare {c!r} in {value!r}" for c in "^_&%#$" if c in text]


def check_bibtex(text: str) -> list[str]:
    """Parse ``text`` with pybtex and format it with the plain style; return the entry keys.

    Raises AssertionError listing every error and warning pybtex reported.
    """
    import pybtex.errors
    import pybtex.io
    from pybtex.database import parse_string
    from pybtex.plugin import find_plugin
    from pybtex.richtext import Text

    stderr = io.StringIO()
    latex_problems: list[str] = []
    with (
        pybtex.errors.capture() as errors,
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stderr(stderr),
    ):
        warnings.simplefilter("always")
        # The garbage collector may close an earlier test's socket meanwhile: its
        # ResourceWarning says nothing of the BibTeX checked here.
        warnings.simplefilter("ignore", ResourceWarning)
        saved = pybtex.io.stderr
        pybtex.io.stderr = stderr
        try:
            data = parse_string(text, "bibtex")
            style = find_plugin("pybtex.style.formatting", "plain")()
            latex = find_plugin("pybtex.backends", "latex")()
            rendered = [e.text.render(latex) for e in style.format_bibliography(data)]
            for bib_entry in data.entries.values():  # every field is LaTeX pybtex can read
                for name, value in bib_entry.fields.items():
                    if name.lower() not in ("url", "doi", "eprint"):
                        Text.from_latex(value)
                        latex_problems += latex_text_problems(value)
                for person in bib_entry.persons.get("author", []):
                    str(person)
        finally:
            pybtex.io.stderr = saved
    problems = [pybtex.errors.format_error(e) for e in errors]
    problems += [str(w.message) for w in caught] + latex_problems
    if stderr.getvalue().strip():
        problems.append(stderr.getvalue().strip())
    assert not problems, "pybtex reported:\n" + "\n".join(problems)
    assert len(rendered) == len(data.entries)
    for key, bib_entry in data.entries.items():
        if "author" not in bib_entry.persons:
            assert "key" in bib_entry.fields, f"{key}: no author and no key field"
    return list(data.entries)
