"""Running the service: uvicorn on a socket bound up front, SIGTERM as a clean stop.

On SIGTERM (``docker stop``, systemd) the service stops accepting, ends its live streams at once,
gives in-flight requests and background work ``shutdown_timeout`` seconds, then exits 0. A sync
still running then is cancelled: its committed pages stay and the next run resumes from them.
Ctrl-C (SIGINT) does the same, and the CLI then exits 130.
"""

from __future__ import annotations

import signal
import socket
from types import FrameType

import uvicorn

from ._app import Service

__all__ = ["run"]


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, service: Service) -> None:
        super().__init__(config)
        self.service = service

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.service.request_stop()
        if sig == signal.SIGTERM:
            # A requested stop, not an interruption: shut down without re-raising the signal
            # afterwards (uvicorn would), so the process exits 0 once everything finished.
            self.should_exit = True
            return
        super().handle_exit(sig, frame)


def run(service: Service, sock: socket.socket) -> None:
    """Serve until SIGTERM or SIGINT; ``sock`` is bound and listening already."""
    settings = service.settings
    config = uvicorn.Config(
        service.app,
        log_config=None,
        access_log=False,
        lifespan="on",
        # X-Forwarded-* are applied by the service itself (Service.app), from trusted proxies.
        proxy_headers=False,
        timeout_graceful_shutdown=max(int(settings.shutdown_timeout), 1),
        server_header=False,
    )
    _Server(config, service).run(sockets=[sock])
