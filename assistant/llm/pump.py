"""Run a blocking HTTP call in a worker thread, so that the caller can keep its deadlines.

The SDK blocks in socket reads (before the headers, or between events while a server sends
only SSE keep-alive comments, which the SDK skips silently), and a blocked read cannot be
given a wall-clock deadline from inside. :class:`Pump` runs the call in a daemon thread that
hands each item (a stream chunk, or the whole response) to a queue; the caller takes them with
a timeout and, when its deadline passes, cancels the pump: the registered closers (the
stream's ``close``) are called and the thread's items are dropped. Callbacks therefore run in
the caller's thread (Ctrl-C and rendering work as usual).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.llm.guards import Deadlines

__all__ = ["Producer", "Pump", "PumpTimeout", "next_before"]

_ITEM, _ERROR, _END = "item", "error", "end"

#: ``produce(put, on_cancel)``: puts items; registers closers to call if the pump is cancelled.
Producer = Callable[[Callable[[Any], None], Callable[[Callable[[], object]], None]], None]


class PumpTimeout(Exception):
    """Nothing arrived within the timeout given to :meth:`Pump.get`."""


class _Cancelled(Exception):
    """Raised in the worker when it puts an item after the pump was cancelled."""


class Pump:
    """``produce(put, on_cancel)`` in a daemon thread; :meth:`get` returns what it puts, in order.

    ``get`` raises what ``produce`` raised, :class:`PumpTimeout` when nothing arrived in time,
    and returns :data:`Pump.END` after the last item.
    """

    END: Any = object()

    def __init__(self, produce: Producer, name: str) -> None:
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._cancelled = threading.Event()
        self._closers: list[Callable[[], object]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, args=(produce,), name=name, daemon=True)
        self._thread.start()

    def on_cancel(self, closer: Callable[[], object]) -> None:
        """Call ``closer`` when the pump is cancelled (at once if it already was)."""
        with self._lock:
            if not self._cancelled.is_set():
                self._closers.append(closer)
                return
        with contextlib.suppress(Exception):
            closer()

    def get(self, timeout: float) -> Any:
        try:
            kind, value = self._queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            raise PumpTimeout from None
        if kind == _ERROR:
            raise value
        if kind == _END:
            return Pump.END
        return value

    def cancel(self) -> None:
        """Stop listening: close what the worker registered; its later items are dropped."""
        with self._lock:
            self._cancelled.set()
            closers, self._closers = self._closers, []
        for closer in closers:
            with contextlib.suppress(Exception):
                closer()

    def _put(self, item: Any) -> None:
        if self._cancelled.is_set():
            raise _Cancelled
        self._queue.put((_ITEM, item))

    def _run(self, produce: Producer) -> None:
        try:
            produce(self._put, self.on_cancel)
        except _Cancelled:
            return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            if not self._cancelled.is_set():
                self._queue.put((_ERROR, exc))
            return
        self._queue.put((_END, None))


def next_before(pump: Pump, deadlines: Deadlines, shown: int) -> Any:
    """The pump's next item, or DeadlinePassed when the binding deadline passes first
    (``shown``: how many answer characters the user has seen, for the message)."""
    from assistant.llm.failures import DeadlinePassed

    remaining = deadlines.remaining()
    if remaining <= 0:
        raise DeadlinePassed(deadlines.kind, deadlines.seconds, shown)
    try:
        return pump.get(remaining)
    except PumpTimeout:
        raise DeadlinePassed(deadlines.kind, deadlines.seconds, shown) from None
