"""The library's notices on stderr: warnings that the ``assistant`` loggers emit while a command
runs (an index file repaired, vectors embedded again), one line each, as the renderer prints
messages. The library never prints; it logs, and each face decides what to show."""

from __future__ import annotations

import logging


class _Notices(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        from assistant.cli import render

        try:
            render.message(f"[yellow]Note:[/] {render.escape(record.getMessage())}")
        except Exception:  # noqa: BLE001 - a notice must never end the command
            self.handleError(record)


def install() -> None:
    """Show the ``assistant`` loggers' warnings on stderr (once per process)."""
    logger = logging.getLogger("assistant")
    if not any(isinstance(handler, _Notices) for handler in logger.handlers):
        handler = _Notices(level=logging.WARNING)
        logger.addHandler(handler)
        logger.propagate = False
