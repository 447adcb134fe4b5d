"""Chat models, below retrieval and generation: the protocol, its providers and the prompts."""
