"""Chat models: the protocol the answerers use and its providers."""
