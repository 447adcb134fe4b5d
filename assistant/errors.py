"""Errors that carry a hint on how to fix them."""

from __future__ import annotations


class AssistantError(Exception):
    """An error the user can act on: a message and a hint saying what to do."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nHint: {self.hint}"

    def one_line(self) -> str:
        """Message and hint as sentences on one line (for a fallback that goes on)."""
        parts = (part.strip() for part in (self.message, self.hint) if part)
        return " ".join(p if p.endswith((".", "?", "!")) else f"{p}." for p in parts)


class UsageError(AssistantError):
    """Bad input from the user (a flag, a file)."""

    exit_code = 2


class IndexMismatchError(AssistantError):
    """The index was built with other embedding or chunking settings."""


class IndexDamagedError(AssistantError):
    """A file of the index cannot be read: the message names the file, the hint the fix."""


class LLMError(AssistantError):
    """The language model endpoint failed after retries."""
