"""Weight readers and importers for public checkpoint formats."""
