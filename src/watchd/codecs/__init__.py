"""Wire formats both directions share: syslog, JSON Lines records, hash chains, host names."""
