"""A literature question-answering assistant over paper titles and abstracts.

The library is usable without the CLI: see :mod:`assistant.api` for the entry points
(ingest, search, ask) that return typed objects.
"""

__version__ = "0.1.0"
