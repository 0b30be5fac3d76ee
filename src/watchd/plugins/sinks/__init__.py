"""Sinks: where events go. Each module registers the sink it defines."""
