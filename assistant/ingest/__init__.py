"""From files to Paper records: readers, text clean-up, chunking."""
