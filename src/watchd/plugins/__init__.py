"""What consumes events: sinks, formats and filters, registered through the public hooks."""
