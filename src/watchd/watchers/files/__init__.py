"""The file-tailing engine: discovery, identity, rotation, resume, lines, inotify."""
