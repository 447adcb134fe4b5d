"""Answers, citations and writing help composed from retrieved papers
(with a chat model, or extractively).
"""
