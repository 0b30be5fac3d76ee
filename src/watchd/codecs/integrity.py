"""loki-mode's integrity chain, verified record by record while the trail is followed.

Each dashboard record carries ``_integrity_hash`` = sha256(previous hash +
the record without its hash, as Python's ``json.dumps(..., sort_keys=True,
default=str)`` writes it); the first record chains to 64 zeros, and a new
file's first record to the previous file's last one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from itertools import repeat
from typing import Any

from watchd.codecs.records import INVALID_UTF8_KEY

GENESIS = "0" * 64
HASH_KEY = "_integrity_hash"
OK, BROKEN, UNVERIFIED = "ok", "broken", "unverified"


def link_hash(previous: str, record: Mapping[str, Any]) -> str:
    """Return the hash *record* must carry when it follows *previous*."""
    body = {k: v for k, v in record.items() if k not in (HASH_KEY, INVALID_UTF8_KEY)}
    data = previous + json.dumps(body, sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def is_chained(record: Mapping[str, Any]) -> bool:
    """Return True for records of loki-mode's dashboard trail (chained or not)."""
    return SHAPE_KEY in record and "timestamp" in record


def any_chained(records: list[dict[str, Any]]) -> bool:
    """Return True when some of *records* may be loki-mode's (see :func:`is_chained`).

    Asked of a whole block in C: a block without the key holds none of them.
    """
    return any(map(dict.__contains__, records, repeat(SHAPE_KEY)))


#: The key that marks loki-mode's dashboard records.
SHAPE_KEY = "resource_type"


class Chain:
    """The head of one chain, and the status of each link as it comes.

    *head* None means the chain's start was not seen (following began in the
    middle of a file without a checkpoint): the first link that does not chain
    to genesis is then ``unverified``, not ``broken``, and the chain goes on
    from its hash.
    """

    def __init__(self, head: str | None) -> None:
        self.head = head

    @property
    def begun(self) -> bool:
        """Return True once a hashed record was seen: from then on every record must link."""
        return self.head is not None and self.head != GENESIS

    def binds(self, file_in_chain: bool) -> bool:  # noqa: FBT001 - one fact, named by the caller
        """Return True when every line of a file must be a link of the chain.

        That is so once the chain has begun, in a file that held a loki
        dashboard record: other trails a glob names (terok's, ito's) are not
        links of it.
        """
        return file_in_chain and self.begun

    def check(self, record: Mapping[str, Any]) -> tuple[str, str]:
        """Return the status of *record*'s link and the hash it should have carried.

        Once the chain has begun, a record without a hash breaks it, as
        loki-mode's own ``verify_log_integrity`` says: it is how a record
        appended by hand, or by an attacker, shows. The chain goes on from the
        last hash, so the next genuine record links again.
        """
        stated = record.get(HASH_KEY)
        if not isinstance(stated, str):
            if self.begun:
                return BROKEN, link_hash(self.head or GENESIS, record)
            return UNVERIFIED, ""
        expected = link_hash(self.head or GENESIS, record)
        if expected == stated:
            status = OK
        elif self.head is None:
            status = UNVERIFIED
        else:
            status = BROKEN
        # After a broken link the chain goes on from the hash the record states,
        # so one altered record is one broken link, not a broken rest of the trail.
        self.head = stated
        return status, expected
