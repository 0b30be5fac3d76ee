"""Built-in sinks, formats and filters, registered through the public hooks."""
