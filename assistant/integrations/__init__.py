"""Adapters to other tools: an MCP server (:mod:`.mcp_server`), a llama-index retriever
(:mod:`.llama_index`). Each imports its outside package itself, and only when it is used; the
rest of the assistant never imports them."""
