"""gunicorn's gevent worker with the API's error body: `finetune serve`'s default (see `finetune_web.serve`).

Imported by gunicorn only when chosen: importing gevent is harmless, but the worker monkey-patches the standard
library when it starts, after the fork and before it loads the app.
"""

from __future__ import annotations

from gunicorn.workers.ggevent import GeventWorker

from finetune_web.serve import JsonErrors


class JsonErrorGeventWorker(JsonErrors, GeventWorker):  # type: ignore[misc]
    """gunicorn's gevent worker, answering what gunicorn refuses itself in the API's JSON error body."""
