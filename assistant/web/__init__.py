"""The local web app (``assistant serve``): one more face of the library, like the CLI and MCP.

Pages are rendered on the server (Jinja2, autoescaped) with a little vanilla JavaScript; every
result comes from ``assistant``'s public functions. Only this package imports FastAPI, and only
when ``serve`` runs, so ``assistant --help`` stays fast.
"""
