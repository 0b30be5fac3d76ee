"""A separate process that writes an audit trail the way producers do.

Each argument is one step, done in order:

    open:PATH            open PATH for appending (created if missing)
    write:A:B            records A..B-1, one write() each
    burst:A:B            records A..B-1 in one write()
    spread:A:B:SECONDS   records A..B-1 evenly over SECONDS
    append:PATH:A:B:SECONDS  the same, opening PATH for each record (as a log rotator
                         expects of a writer: a new file at PATH is written at once)
    partial:N            the first half of record N, no newline
    rest:N               the rest of record N
    signal:PATH          create PATH (tells the test a point was reached)
    await:PATH           wait until PATH exists
    close                close the file
"""

from __future__ import annotations

import json
import os
import sys
import time


def record(n: int) -> bytes:
    body = {"ts": "2026-01-01T00:00:00+00:00", "action": "w", "container": "c", "seq": n}
    return json.dumps(body).encode() + b"\n"


def main(steps: list[str]) -> None:  # noqa: PLR0912 - one branch per step verb
    fd = -1
    for step in steps:
        verb, *args = step.split(":")
        if verb == "open":
            fd = os.open(args[0], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        elif verb == "write":
            for n in range(int(args[0]), int(args[1])):
                os.write(fd, record(n))
        elif verb == "burst":
            os.write(fd, b"".join(record(n) for n in range(int(args[0]), int(args[1]))))
        elif verb == "spread":
            first, last, seconds = int(args[0]), int(args[1]), float(args[2])
            for n in range(first, last):
                os.write(fd, record(n))
                time.sleep(seconds / max(last - first, 1))
        elif verb == "append":
            path, first, last, seconds = args[0], int(args[1]), int(args[2]), float(args[3])
            start = time.monotonic()
            for n in range(first, last):
                out = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                os.write(out, record(n))
                os.close(out)
                # On a schedule, not a sleep per record: the rate holds however long a write takes.
                delay = start + (n - first + 1) * seconds / max(last - first, 1) - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        elif verb == "partial":
            data = record(int(args[0]))
            os.write(fd, data[: len(data) // 2])
        elif verb == "rest":
            data = record(int(args[0]))
            os.write(fd, data[len(data) // 2 :])
        elif verb == "signal":
            open(args[0], "w").close()
        elif verb == "await":
            while not os.path.exists(args[0]):
                time.sleep(0.005)
        elif verb == "close":
            os.close(fd)
        else:
            raise SystemExit(f"unknown step {step!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
