"""Server-Sent Events over a job's event log: `id:` is the event's seq, `event:` its type, `data:` its JSON.

    @blp.route("/<job_id>/events/stream")
    class JobEvents(MethodView):
        @blp.response(200, content_type=EVENT_STREAM)
        def get(self, job_id):
            job = owned_job(job_id)
            return event_stream_response(workspace(), job.id, state().feed)

A reconnecting client sends `Last-Event-ID` (or `?last_event_id=`) and gets only later events. A
comment line every 15 s (`FINETUNE_STREAM_KEEPALIVE_S`) keeps proxies from closing a quiet stream; the
stream ends after the job's final event. `job_id` may be a callable that returns None until there is a
job to follow (the training stream before any run: 200 at once, events once a run starts). The routes' streams wait on
the app's event feed (`finetune_web.event_feed`): one watcher per process reads every followed job's
progress, and notices clients that hung up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from finetune_core.domain import JobEvent
from finetune_core.errors import NotFoundError
from finetune_core.services import jobs
from flask import Response, current_app, request, stream_with_context

from finetune_web.current import EXTENSION
from finetune_web.errors import ApiError
from finetune_web.event_feed import EventFeed, Follower

if TYPE_CHECKING:
    from finetune_core.workspace import Workspace

EVENT_STREAM = "text/event-stream"
HEARTBEAT_S = 15.0  # unless the `stream_keepalive_s` setting says otherwise
POLL_S = 0.5
RESOLVE_S = 2.0  # how often a stream waiting for its first job asks whether there is one
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


class Polling:
    """The stream's waits without a feed (a script's, a test's): look again every `poll_s` seconds."""

    gone = False

    def __init__(self, poll_s: float) -> None:
        self.poll_s = poll_s

    def watch(self, job_id: str, after_seq: int) -> None:
        return None

    def wait(self, timeout: float) -> bool:
        time.sleep(min(self.poll_s, timeout))
        return True


def job_events(workspace: Workspace, job: JobRef, *, after_seq: int = 0, heartbeat_s: float | None = None,
               poll_s: float | None = None, follower: Follower | None = None) -> Iterator[str]:
    """The stream's text: events after `after_seq` as they are recorded, until the job has finished.

    With a `follower` of the app's event feed, the stream reads the database when the feed says its job has
    news (and at each keep-alive), and ends when its client hangs up; without one it looks every `poll_s`.
    """
    heartbeat_s, poll_s = heartbeat_s or HEARTBEAT_S, poll_s or POLL_S
    waiter: Follower | Polling = follower or Polling(poll_s)
    idle_since = time.monotonic()
    yield ": stream open\n\n"  # tells the client at once that the stream is live
    while not waiter.gone:
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
            waiter.watch(job_id, after_seq)
        until_heartbeat = max(0.0, heartbeat_s - (time.monotonic() - idle_since))
        # a stream that has no job yet looks for one every RESOLVE_S: the feed only knows jobs
        waiter.wait(until_heartbeat if job_id is not None else min(until_heartbeat, max(poll_s, RESOLVE_S)))
        if time.monotonic() - idle_since >= heartbeat_s and not waiter.gone:
            idle_since = time.monotonic()
            yield ": keep-alive\n\n"


def followed(feed: EventFeed, stream: Iterator[str], follower: Follower) -> Iterator[str]:
    """`stream`, leaving the feed when it ends, however it ends (the client gone, the server closing it)."""
    try:
        yield from stream
    finally:
        feed.leave(follower)


def event_stream_response(workspace: Workspace, job: JobRef, feed: EventFeed | None = None) -> Response:
    """A streamed `text/event-stream` response of the job's events, resumed after `Last-Event-ID`.

    With the app's `feed`, the stream waits on it and notices at once a client that hung up (gunicorn gives
    the client's socket in `gunicorn.socket`).
    """
    after_seq = last_event_id()
    heartbeat_s = current_app.extensions[EXTENSION].settings.stream_keepalive_s
    if feed is None:
        stream = job_events(workspace, job, after_seq=after_seq, heartbeat_s=heartbeat_s)
    else:
        follower = feed.follow(request.environ.get("gunicorn.socket"))
        stream = followed(feed, job_events(workspace, job, after_seq=after_seq, heartbeat_s=heartbeat_s,
                                           follower=follower), follower)
    response = Response(stream_with_context(stream), mimetype=EVENT_STREAM)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response
