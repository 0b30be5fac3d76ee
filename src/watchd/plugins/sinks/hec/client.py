"""One HTTP(S) connection to HEC: POST a batch, ask about acks, keep the token out of logs."""

from __future__ import annotations

import gzip
import http.client
import ssl
from typing import Any
from urllib.parse import urlsplit

import orjson


class HecClient:
    """One keep-alive connection to HEC, used from the worker thread only."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        tls: ssl.SSLContext | None,
        compress: bool,
        channel: str | None,
        timeout: float = 30.0,
    ) -> None:
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self._prefix = parts.path.rstrip("/") if parts.path not in ("", "/") else ""
        self._tls = tls
        self._timeout = timeout
        self._compress = compress
        self._token = token
        self._headers = {
            "Authorization": f"Splunk {token}",  # never logged: see redact()
            "Content-Type": "application/json",
            "User-Agent": "watchd",
        }
        if channel:
            self._headers["X-Splunk-Request-Channel"] = channel
        self._conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes) -> tuple[int, dict[str, Any] | None]:
        """POST *body*; return the status and the JSON answer (None when it is not an object)."""
        headers = dict(self._headers)
        if self._compress:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        conn = self._connection()
        try:
            conn.request("POST", self._prefix + path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            answer = orjson.loads(data)
        except orjson.JSONDecodeError:
            return response.status, None
        return response.status, answer if isinstance(answer, dict) else None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.https:
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self._timeout, context=self._tls
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self._timeout)
        return self._conn

    def redact(self, text: str) -> str:
        """Return *text* without the token: an answer may echo the Authorization header."""
        return text.replace(self._token, "<token>") if self._token else text

    def close(self) -> None:
        """Drop the connection (the next request opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
