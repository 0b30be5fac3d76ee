"""Syslog: its codes, parsing, message building and stream framing."""
