"""watchd's core: events, the select() loop, plugins, registries and the pipeline."""
