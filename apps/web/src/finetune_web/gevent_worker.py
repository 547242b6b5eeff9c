"""gunicorn's gevent worker with the API's error body: `finetune serve`'s default (see `finetune_web.serve`).

Imported by gunicorn only when chosen. The worker monkey-patches the standard library when it starts, after
the fork and before it loads the app, as gunicorn's does, except for `subprocess`, `os` and `signal`: gevent's
subprocess cannot wait for a child from a native thread ("child watchers are only available on the default
loop"), and the jobs this server runs itself run on native threads (`finetune_web.green`) and start programs
(nvidia-smi, ffmpeg...). The standard subprocess blocks the one thread that waits, and a request that starts a
program holds its worker only as long as the program runs.
"""

from __future__ import annotations

from typing import Any

from gevent import monkey, socket
from gunicorn.workers.ggevent import GeventWorker

from finetune_web.serve import JsonErrors

UNPATCHED = {"subprocess": False, "os": False, "signal": False}


class JsonErrorGeventWorker(JsonErrors, GeventWorker):  # type: ignore[misc]
    """gunicorn's gevent worker, answering what gunicorn refuses itself in the API's JSON error body."""

    sockets: list[Any]  # gunicorn's listeners (it is untyped), then gevent sockets on their file descriptors

    def patch(self) -> None:
        monkey.patch_all(**UNPATCHED)
        # gunicorn's own step: the listening sockets become gevent's
        self.sockets = [socket.socket(listener.FAMILY, socket.SOCK_STREAM, fileno=listener.sock.detach())
                        for listener in self.sockets]
