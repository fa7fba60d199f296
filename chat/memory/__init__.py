"""Memory: retrieval, extraction, reflection and the pin guard (§5, §8.3)."""
