"""The ``assistant`` command: parses, calls the library, prints through one renderer."""
