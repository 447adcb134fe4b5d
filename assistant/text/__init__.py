"""Reading scientific text: what an abstract's sentences do, and the phrases papers share."""
