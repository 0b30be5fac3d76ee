"""Sources: the file tailing engine, the audit-log watcher and record dialects."""
