"""Run the app under uvicorn on a socket we bind ourselves (so port 0 works and the real port
is known before the first request), with uvicorn's graceful shutdown.

On SIGINT/SIGTERM uvicorn stops accepting connections, lets in-flight requests finish (up to
`graceful_timeout` seconds), then runs the app's shutdown (the batcher stops). Binds 127.0.0.1
unless told otherwise: the server has no authentication.
"""

from __future__ import annotations

import socket
import sys


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {err.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run(
    app,
    host: str = "127.0.0.1",
    port: int = 8000,
    graceful_timeout: float = 30.0,
    log_level: str = "warning",
) -> None:
    """Serve `app` until a signal. Prints `listening on http://HOST:PORT` once bound."""
    import uvicorn

    sock = bind(host, port)
    real_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level=log_level,
        timeout_graceful_shutdown=graceful_timeout,
        access_log=False,
    )
    server = uvicorn.Server(config)
    shown = f"[{host}]" if ":" in host else host
    print(f"listening on http://{shown}:{real_port}", flush=True)
    server.run(sockets=[sock])
    sys.stdout.flush()
