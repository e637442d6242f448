"""gunicorn's threaded (gthread) worker, changed so that a silent client holds no thread.

gunicorn 27's gthread hands each new connection to a thread at once; the thread waits up to 5 s
for a first byte, then reads the request line and headers with no time limit. So a client that
connects and says nothing holds a thread for 5 s, and one that stops in the middle of its
headers holds it until it hangs up: with a few such clients every thread of the hook waits and
Metacontroller's calls time out (`benchmarks/run.py --only stall`, docs/performance.md). The
hook's own body timeout (`NIMBUILD_HOOK_BODY_TIMEOUT_SECONDS`) starts only after the headers.

Two changes, nothing else:
- a new connection waits in the worker's poller, as a kept-alive one does, and gets a thread
  when it has sent something; silent for gunicorn's `keepalive` seconds, it is closed (gunicorn's
  own rule for connections waiting for data);
- the request line and headers are read with the same timeout as the body: a client silent for
  that long is treated as gone (connection closed, a debug log line, no answer: gunicorn has
  no request to answer yet).
A TLS handshake is still gunicorn's, without this limit.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import time
from functools import partial
from typing import Any

from gunicorn.workers import gthread

from hooks.settings import Settings


class _Connection(gthread.TConn):  # type: ignore[misc]
    read_timeout: float = 10.0

    def init(self) -> None:
        # gthread calls this before every request on the connection, after making the socket
        # blocking (which clears any timeout); the first call also builds the parser.
        super().init()
        self.sock.settimeout(self.read_timeout)
        unreader = _unreader(self)
        if unreader is not None:
            if not hasattr(unreader, "_recv"):
                unreader._recv = unreader.chunk
                unreader.chunk = partial(_chunk_or_gone, unreader)
            unreader._reading_headers = True  # until ThreadWorker.handle_request


def _unreader(conn: Any) -> Any:
    """The HTTP/1 parser's socket reader (an HTTP/2 connection has none)."""
    return getattr(conn.parser, "unreader", None)


def _chunk_or_gone(unreader: Any, size_hint: int | None = None) -> bytes:
    """While the headers are read, a recv() that timed out reads as the end of the stream: the
    parser then drops the connection as a client that went away (a debug line) instead of
    logging a socket error with a trace. Later reads (the body, read by the hook with its own
    408, and gunicorn's drain) see the timeout as before."""
    try:
        data: bytes = unreader._recv(size_hint)
    except TimeoutError:
        if not unreader._reading_headers:
            raise
        # gthread then closes "gracefully" on its event loop, waiting up to 2 s for the client
        # to hang up: a client that never does would freeze the whole worker. Nothing is owed
        # to it (no request yet), so the read side is shut and that wait ends at once.
        try:
            unreader.sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass
        return b""
    return data


class ThreadWorker(gthread.ThreadWorker):  # type: ignore[misc]
    def init_process(self) -> None:
        self.read_timeout = float(Settings.from_env(os.environ).body_timeout_seconds)
        super().init_process()

    def handle_request(self, req: Any, conn: Any) -> Any:
        unreader = _unreader(conn)
        if unreader is not None:
            unreader._reading_headers = False
        return super().handle_request(req, conn)

    def accept(self, listener: socket.socket) -> None:
        """As gthread's, but the connection waits in the poller for its first byte."""
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = _Connection(self.cfg, client, address, listener.getsockname())
        conn.read_timeout = self.read_timeout
        conn.timeout = time.monotonic() + self.cfg.keepalive
        self.pending_conns.append(conn)
        self.poller.register(
            conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn)
        )
