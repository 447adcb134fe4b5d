"""What leaves the assistant for other tools: BibTeX, reference lines."""
