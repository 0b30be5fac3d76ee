"""Batch commands: query, summary, verify, emit and the demo, each over the same readers."""
