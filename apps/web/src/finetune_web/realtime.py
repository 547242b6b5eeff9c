"""Socket.IO events of chats (foyergpt), served beside the REST API on the same port, at `/ws/socket.io`.

    const socket = io(base, {path: "/ws/socket.io", auth: {token: accessToken}});
    socket.emit("join_chat", {chat_id}, ack);       // {ok: true}; else {ok: false, ...error body} and `error`
    socket.emit("typing", {chat_id, is_typing});    // the room's others get `user_typing` {chat_id, user_id, is_typing}
    socket.emit("leave_chat", {chat_id}, ack);
    socket.on("new_message", message => ...);       // each message stored in a joined chat, as the REST API shows it

A connection presents the REST API's access token in its `auth` payload, checked as a request's bearer token is
(signature, expiry, live session); a missing or bad one is refused (the client's `connect_error` carries the error
body). Local mode needs none. Only a chat's owner joins its room, `chat:<id>`; anyone else gets NOT_FOUND, as
the REST API answers. The routes that store messages call `announce(messages)`, from a request or from the native
thread that finishes a streamed answer. With REDIS_URL the server processes share their emits through Redis
(`socketio.RedisManager`), so a message stored by one reaches the clients of every other; without it, one process.

`finetune serve` runs `wrap(create_app(...))` (see `finetune_web.app.create_wsgi_app`): gevent's async mode under
the gevent worker (websockets through simple-websocket), threads under gthread; long-polling works on both.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import socketio
from finetune_core.errors import FinetuneError
from finetune_core.services import chats, sessions, users
from flask_jwt_extended import decode_token
from jwt import ExpiredSignatureError
from socketio import exceptions as socketio_errors

from finetune_web import green
from finetune_web.auth import SESSION_CLAIM
from finetune_web.current import EXTENSION, AppState, Caller
from finetune_web.errors import error_body

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

    from finetune_core.domain import ChatMessage
    from flask import Flask

log = logging.getLogger(__name__)

PATH = "ws/socket.io"
CHANNEL = "finetune-socketio"  # the Redis channel every server process of one deployment shares
ROOM_PREFIX = "chat:"


def room_of(chat_id: str) -> str:
    return f"{ROOM_PREFIX}{chat_id}"


class Refused(Exception):
    """What an event (or a connection) is refused with: the REST API's error body."""

    def __init__(self, error_code: str, detail: str, context: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.body = error_body(detail, error_code, context)

    @classmethod
    def of(cls, error: FinetuneError) -> Refused:
        return cls(error.error_code, error.message, error.context)


def chat_id_of(data: Any) -> str:
    chat_id = data.get("chat_id") if isinstance(data, dict) else None
    if not isinstance(chat_id, str) or not chat_id:
        raise Refused("VALIDATION_ERROR", 'chat_id: the id of a chat is required ({"chat_id": "..."})',
                      {"errors": [{"field": "chat_id", "location": "body", "message": "a chat id is required"}]})
    return chat_id


class Realtime:
    """One process's Socket.IO server over one app: its event handlers, and the emits of `announce`."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.state: AppState = app.extensions[EXTENSION]
        redis_url = self.state.settings.redis_url
        manager = socketio.RedisManager(redis_url, channel=CHANNEL) if redis_url else None
        # gevent's hub (the worker's main thread serves every connection): emits from other threads go through it
        self.hub: Any = None
        if green.patched():
            import gevent

            self.hub = gevent.get_hub()
        self.server: Any = socketio.Server(async_mode="gevent" if self.hub is not None else "threading",
                                           client_manager=manager, cors_allowed_origins=self.origin_allowed,
                                           logger=False, engineio_logger=False)
        for event, handler in (("connect", self.connect), ("join_chat", self.join_chat),
                               ("leave_chat", self.leave_chat), ("typing", self.typing)):
            self.server.on(event, handler)

    def origin_allowed(self, origin: str | None, environ: dict[str, Any]) -> bool:
        """A browser page of the API's own host, or of an origin FINETUNE_CORS_ORIGINS allows."""
        allowed = self.state.settings.cors_origins
        if origin is None or "*" in allowed or origin in allowed:
            return True
        return origin.partition("://")[2] == environ.get("HTTP_HOST")

    # the events

    def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            caller = self.caller_of(auth)
        except Refused as refused:
            raise socketio_errors.ConnectionRefusedError(refused.body["detail"], refused.body) from None
        self.server.save_session(sid, {"caller": caller})

    def join_chat(self, sid: str, data: Any = None) -> dict[str, Any]:
        """Only the chat's owner joins its room (the local user: any chat)."""
        try:
            chat_id = chat_id_of(data)
            caller = self.live_caller(sid)
            chat = chats.owned_chat(self.state.workspace, chat_id, caller.owner_id)
        except FinetuneError as error:
            return self.refuse(sid, Refused.of(error))
        except Refused as refused:
            return self.refuse(sid, refused)
        self.server.enter_room(sid, room_of(chat.id))
        return {"ok": True}

    def leave_chat(self, sid: str, data: Any = None) -> dict[str, Any]:
        try:
            chat_id = chat_id_of(data)
        except Refused as refused:
            return self.refuse(sid, refused)
        self.server.leave_room(sid, room_of(chat_id))
        return {"ok": True}

    def typing(self, sid: str, data: Any = None) -> dict[str, Any]:
        """Tell the room's other clients (the owner's other tabs and devices) that this one types, or stopped."""
        try:
            chat_id = chat_id_of(data)
            is_typing = data.get("is_typing", True)
            if not isinstance(is_typing, bool):
                raise Refused("VALIDATION_ERROR", "is_typing: true or false",
                              {"errors": [{"field": "is_typing", "location": "body", "message": "a boolean"}]})
            if room_of(chat_id) not in self.server.rooms(sid):
                raise Refused("NOT_JOINED", f"join chat '{chat_id}' first (join_chat)", {"chat_id": chat_id})
        except Refused as refused:
            return self.refuse(sid, refused)
        user_id = self.session_caller(sid).user.id
        self.server.emit("user_typing", {"chat_id": chat_id, "user_id": user_id, "is_typing": is_typing},
                         room=room_of(chat_id), skip_sid=sid)
        return {"ok": True}

    def refuse(self, sid: str, refused: Refused) -> dict[str, Any]:
        """The `error` event to the client, and the same body in the event's answer (its ack)."""
        self.server.emit("error", refused.body, to=sid)
        return {"ok": False, **refused.body}

    # who is connected

    def caller_of(self, auth: Any) -> Caller:
        """The caller behind a connection's `auth` payload `{"token": "<access token>"}`, as `auth.authenticate`
        checks a request's bearer token (flask-jwt-extended's decoding, then the session must be live)."""
        workspace = self.state.workspace
        if self.state.settings.local_mode:
            return Caller(users.local_user(workspace), None, local=True)
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token.strip():
            raise Refused("AUTHENTICATION_REQUIRED", 'an access token is required: connect with the auth payload '
                                                     '{"token": "<access token>"}')
        with self.app.app_context():
            try:
                claims = decode_token(token.strip())
            except ExpiredSignatureError:
                raise Refused("TOKEN_EXPIRED", "the token has expired") from None
            except Exception as exc:  # any other bad token: malformed, wrong signature, missing claims
                raise Refused("INVALID_TOKEN", f"invalid token: {exc}") from None
        if claims.get("type") != "access":
            raise Refused("INVALID_TOKEN", "an access token is expected here")
        try:
            user, session = sessions.check_access(workspace, str(claims.get(SESSION_CLAIM, "")), str(claims["sub"]))
        except FinetuneError as error:
            raise Refused.of(error) from None
        return Caller(user, session)

    def session_caller(self, sid: str) -> Caller:
        caller: Caller = self.server.get_session(sid)["caller"]
        return caller

    def live_caller(self, sid: str) -> Caller:
        """The connection's caller, whose session must still be live (not signed out since it connected)."""
        caller = self.session_caller(sid)
        if caller.session is not None:
            sessions.check_access(self.state.workspace, caller.session.id, caller.user.id)
        return caller

    # the messages stored

    def announce(self, messages: Iterable[ChatMessage]) -> None:
        payloads = [(room_of(message.chat_id), message.model_dump(mode="json")) for message in messages]
        if not payloads:
            return
        if self.hub is not None and native_thread_id() != self.hub.thread_ident:
            # a native thread (a streamed answer's) under gevent: the hub's thread emits, in a greenlet of its own
            import gevent

            self.hub.loop.run_callback_threadsafe(gevent.spawn, self.emit_messages, payloads)
        else:
            self.emit_messages(payloads)

    def emit_messages(self, payloads: list[tuple[str, dict[str, Any]]]) -> None:
        for room, payload in payloads:
            try:
                self.server.emit("new_message", payload, room=room)
            except Exception:  # Redis away: the message is stored all the same, clients see it on their next read
                log.warning("could not announce message %s to %s", payload.get("id"), room, exc_info=True)


def native_thread_id() -> int:
    """The OS thread's id, even where gevent patched `threading` (whose ids are then the greenlets')."""
    from gevent import monkey

    get_ident: Any = monkey.get_original("_thread", "get_ident")
    return int(get_ident())


current: Realtime | None = None  # the process's server, once `wrap` made one (`finetune serve`'s workers)


def wrap(app: Flask) -> WSGIApplication:
    """The app with Socket.IO at /ws/socket.io in front of it (on the same port); the process's server from now on."""
    global current
    current = Realtime(app)
    wrapped: WSGIApplication = socketio.WSGIApp(current.server, app, socketio_path=PATH)
    return wrapped


def announce(messages: Iterable[ChatMessage]) -> None:
    """Emit `new_message` (the message's JSON) to each message's chat room; nothing where this process serves no
    Socket.IO (the Flask app alone, as in tests). Safe from a request and from any other thread."""
    realtime = current
    if realtime is not None:
        realtime.announce(messages)
