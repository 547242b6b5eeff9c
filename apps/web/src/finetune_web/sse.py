"""Server-Sent Events over a job's event log: `id:` is the event's seq, `event:` its type, `data:` its JSON.

    @blp.route("/<job_id>/events/stream")
    class JobEvents(MethodView):
        @blp.response(200, content_type=EVENT_STREAM)
        def get(self, job_id):
            job = owned_job(job_id)
            return event_stream_response(workspace(), job.id)

A reconnecting client sends `Last-Event-ID` (or `?last_event_id=`) and gets only later events. A
comment line every 15 s keeps proxies from closing a quiet stream; the stream ends after the job's
final event. `job_id` may be a callable that returns None until there is a job to follow (the
training stream before any run: 200 at once, events once a run starts).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from finetune_core.domain import JobEvent
from finetune_core.errors import NotFoundError
from finetune_core.services import jobs
from flask import Response, request, stream_with_context

from finetune_web.errors import ApiError

if TYPE_CHECKING:
    from finetune_core.workspace import Workspace

EVENT_STREAM = "text/event-stream"
HEARTBEAT_S = 15.0
POLL_S = 0.5
MAX_EVENT_ID = 2**63 - 1  # the largest integer SQL compares a seq with (400 beyond, not a broken stream)
JobRef = str | Callable[[], str | None]


def format_event(event: JobEvent) -> str:
    data = json.dumps(event.data, separators=(",", ":"), default=str)
    return f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n"


def last_event_id() -> int:
    """Where a reconnecting client stopped: the `Last-Event-ID` header, else `?last_event_id=`, else 0."""
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id") or "0"
    try:
        seq = int(raw)
    except ValueError:
        raise ApiError(400, "INVALID_LAST_EVENT_ID", "Last-Event-ID must be the integer id of an event",
                       last_event_id=raw) from None
    if seq < 0:
        raise ApiError(400, "INVALID_LAST_EVENT_ID", "Last-Event-ID cannot be negative", last_event_id=raw)
    if seq > MAX_EVENT_ID:
        raise ApiError(400, "INVALID_LAST_EVENT_ID", f"Last-Event-ID is at most {MAX_EVENT_ID}", last_event_id=raw)
    return seq


def job_events(workspace: Workspace, job: JobRef, *, after_seq: int = 0, heartbeat_s: float | None = None,
               poll_s: float | None = None) -> Iterator[str]:
    """The stream's text: events after `after_seq` as they are recorded, until the job has finished."""
    heartbeat_s, poll_s = heartbeat_s or HEARTBEAT_S, poll_s or POLL_S
    idle_since = time.monotonic()
    yield ": stream open\n\n"  # tells the client at once that the stream is live
    while True:
        job_id = job if isinstance(job, str) else job()
        if job_id is not None:
            try:
                finished = jobs.get_job(workspace, job_id).status.finished  # read before the events: none missed
                while batch := jobs.events(workspace, job_id, after_seq=after_seq):
                    for event in batch:
                        yield format_event(event)
                    after_seq, idle_since = batch[-1].seq, time.monotonic()
            except NotFoundError:  # deleted with its project meanwhile: nothing more will come
                return
            if finished:
                return
        if time.monotonic() - idle_since >= heartbeat_s:
            idle_since = time.monotonic()
            yield ": keep-alive\n\n"
        time.sleep(poll_s)


def event_stream_response(workspace: Workspace, job: JobRef) -> Response:
    """A streamed `text/event-stream` response of the job's events, resumed after `Last-Event-ID`."""
    stream = job_events(workspace, job, after_seq=last_event_id())
    response = Response(stream_with_context(stream), mimetype=EVENT_STREAM)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response
