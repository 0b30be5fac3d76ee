"""What the loop selects on: the file-tailing engine, one module per source, the dialects."""
