"""The paper index: catalog, vector store, BM25 and dense cache, kept in step."""
