"""watchd as a service: its systemd unit, and the shell completion and man page of its parser."""
