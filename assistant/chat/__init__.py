"""Conversations: sessions, follow-up rewriting, slash commands, transcripts (saved in
:mod:`assistant.history.store`, beside the answer log).

- :mod:`assistant.chat.session`: :class:`ChatSession` (turns, citation numbers, filters)
- :mod:`assistant.chat.followups`: follow-ups rewritten into standalone questions
- :mod:`assistant.chat.commands`: slash commands (:class:`CommandResult`)
- :mod:`assistant.chat.transcripts`: Markdown and JSON transcripts, export files
- :mod:`assistant.chat.turns`: :class:`Turn`

Names are imported on first use, so importing one module stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.lazy_exports import lazy_exports

# Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "ChatSession": "assistant.chat.session",
    "CommandResult": "assistant.chat.commands",
    "Rewrite": "assistant.chat.followups",
    "Turn": "assistant.chat.turns",
    "transcript_json": "assistant.chat.transcripts",
    "transcript_markdown": "assistant.chat.transcripts",
    "turns_from_store": "assistant.chat.transcripts",
}

__all__ = [
    "ChatSession",
    "CommandResult",
    "Rewrite",
    "Turn",
    "transcript_json",
    "transcript_markdown",
    "turns_from_store",
]

if TYPE_CHECKING:
    from assistant.chat.commands import CommandResult
    from assistant.chat.followups import Rewrite
    from assistant.chat.session import ChatSession
    from assistant.chat.transcripts import transcript_json, transcript_markdown, turns_from_store
    from assistant.chat.turns import Turn


__getattr__, __dir__ = lazy_exports("assistant.chat", globals(), _EXPORTS)
