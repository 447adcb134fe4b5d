"""Selecting papers for a question: hybrid retrieval, fusion, coverage, filters."""
