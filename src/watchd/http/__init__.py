"""``watchd run --http ADDRESS``: the run's events over HTTP, its health and its metrics.

The server runs on threads of its own (the standard library's
``ThreadingHTTPServer``): a request never waits for the select loop, and the
loop never waits for a client. Live events reach clients through a bounded
buffer (:mod:`watchd.http.live`); what a request reads from the trails goes
through the same code as ``watchd query``, ``summary`` and ``verify``.
"""
