"""Conversations: sessions, follow-up rewriting, slash commands, transcripts."""
