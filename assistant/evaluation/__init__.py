"""Retrieval evaluation: question sets, metrics, reports."""
