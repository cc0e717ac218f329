"""A webhook receiver in its own process for bench/webhooks.py: ``python _webhook_receiver.py``.

Answers 204 to every POST and prints, per request, the change id it carried and when it arrived
(``time.time()``); prints ``port N`` first. A receiver is a remote service: apart from the
dispatcher, it shares no interpreter lock with what is measured.
"""

from __future__ import annotations

import socket
import sys
import time
from typing import Any

import orjson
import uvicorn


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    arrived = time.time()
    change = orjson.loads(body).get("data", {}).get("change_id")
    sys.stdout.write(f"{change} {arrived:.6f}\n")
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    print(f"port {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
