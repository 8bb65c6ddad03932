"""uvicorn's HTTP/1.1 protocol with Nagle's algorithm off on every connection.

asyncio turns it off only on sockets that say they are TCP; the listening socket a
worker process inherits (``newsdesk serve --workers``) says protocol 0, so without
this a response's second write waits for the client's delayed acknowledgement
(~40 ms a request on Linux). Named by import string: uvicorn passes it to its workers.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
