"""An OpenAI-compatible API at `/v1` (`POST /v1/chat/completions`, `GET /v1/models`) for the issued API keys:
`Authorization: Bearer <issued key>` (not the access JWT), the key's own model answering, errors in OpenAI's shape
`{"error": {"message", "type", "param", "code"}}`, usage counted on the key (services/issued_keys.py).

    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="ftk-...")
    client.chat.completions.create(model="<model id or name>", messages=[{"role": "user", "content": "Hi"}])

401 for a missing, unknown or revoked key; 404 model_not_found when `model` is not the key's (its id or name);
429 with Retry-After over the key's per-minute limit; 400 for a body that is not a chat completion request; 503
when the model cannot answer. The model is asked on a native thread (services/model_streams.py), so the server's
gevent workers keep answering others meanwhile.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from finetune_core.chat.base import ChatModel, ChatReply
from finetune_core.domain import IssuedKey, Message, TrainedModel
from finetune_core.errors import FinetuneError, IssuedKeyRefusedError, RateLimitedError
from finetune_core.services import chat_targets, issued_keys, model_streams
from flask import Response, jsonify, request
from flask.views import MethodView
from pydantic import ValidationError

from finetune_web.auth import PUBLIC
from finetune_web.current import workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.routes.conversations.messages import answer_pool
from finetune_web.schemas.openai_compat import ChatCompletionRequest, error_body
from finetune_web.sse import EVENT_STREAM

OPENAI_ERROR = {  # OpenAI's error body, documented as these routes' default answer instead of the API's own
    "description": "an error in OpenAI's shape: 400, 401, 404, 429 (with Retry-After), 503",
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["message", "type"], "properties": {
            "message": {"type": "string"}, "type": {"type": "string"},
            "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}}}},
}


class OpenAIBlueprint(ApiBlueprint):
    """A blueprint whose operations document OpenAI's error body as their default answer."""

    @staticmethod
    def _prepare_response_doc(doc: dict[str, Any], doc_info: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        prepared: dict[str, Any] = ApiBlueprint._prepare_response_doc(doc, doc_info, **kwargs)
        if "responses" in prepared:
            prepared["responses"]["default"] = OPENAI_ERROR
        return prepared


blp = OpenAIBlueprint("openai", __name__, url_prefix="/v1",
                      description="OpenAI-compatible chat completions for an issued API key (Bearer ftk-...)")
F = TypeVar("F", bound=Callable[..., Any])
CHARS_PER_TOKEN = 4  # a streamed answer's usage is estimated (the stream carries text only)


class OpenAIFailure(Exception):
    def __init__(self, status: int, message: str, error_type: str, code: str | None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.error_type, self.code = status, message, error_type, code
        self.headers = headers or {}


def _failure(error: OpenAIFailure) -> Response:
    response = jsonify(error_body(error.message, error.error_type, error.code))
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


blp.register_error_handler(OpenAIFailure, _failure)


def issued_key_auth(view: F) -> F:
    """Skip the app's JWT check: these views authenticate the issued key themselves."""
    setattr(view, PUBLIC, True)
    return view


def _authenticated() -> tuple[IssuedKey, TrainedModel]:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    try:
        return issued_keys.authenticate(workspace(), secret.strip() if scheme.lower() == "bearer" else None)
    except IssuedKeyRefusedError as exc:
        raise OpenAIFailure(401, exc.message, "invalid_request_error", "invalid_api_key",
                            {"WWW-Authenticate": "Bearer"}) from None


def _request_body() -> ChatCompletionRequest:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise OpenAIFailure(400, "the body must be a JSON object (a chat completion request)",
                            "invalid_request_error", "invalid_body")
    try:
        body = ChatCompletionRequest.model_validate(data)
        body.stops()
    except (ValidationError, ValueError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        where = ".".join(str(part) for part in first["loc"]) if first else None
        message = f"{where}: {first['msg']}" if first else str(exc)
        raise OpenAIFailure(400, message, "invalid_request_error", "invalid_value") from None
    return body


def _unavailable(model: TrainedModel, error: BaseException) -> OpenAIFailure:
    reason = error.message if isinstance(error, FinetuneError) else type(error).__name__
    return OpenAIFailure(503, f"the model {model.name} could not answer: {reason}", "server_error",
                         "model_unavailable")


def _chat_model(key: IssuedKey, model: TrainedModel, body: ChatCompletionRequest) -> ChatModel:
    settings: dict[str, Any] = {"extra": {"stop": body.stops()} if body.stops() else {}}
    if body.temperature is not None:
        settings["temperature"] = body.temperature
    if (max_tokens := body.max_completion_tokens or body.max_tokens) is not None:
        settings["max_tokens"] = max_tokens
    try:
        target = chat_targets.resolve(workspace(), model.id, key.owner_id)
        return chat_targets.build(workspace(), target, key.owner_id, **settings)
    except FinetuneError as exc:  # a model no chat model serves, a missing provider key...
        raise _unavailable(model, exc) from None


def _estimate(text: str) -> int:
    return max(1, -(-len(text) // CHARS_PER_TOKEN)) if text else 0


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _finish(reason: str | None) -> str:
    return reason if reason in ("stop", "length") else "stop"


@blp.route("/chat/completions")
class ChatCompletions(MethodView):
    @issued_key_auth
    @blp.response(200, description="a `chat.completion`, or with `stream` Server-Sent Events of "
                                   "`chat.completion.chunk` then `data: [DONE]`")
    def post(self) -> Any:
        """Answer a conversation with the issued key's model (OpenAI's chat completions)"""
        key, model = _authenticated()
        body = _request_body()
        if body.model not in (model.id, model.name):
            raise OpenAIFailure(404, f"the model '{body.model}' does not exist or this key cannot use it",
                                "invalid_request_error", "model_not_found")
        try:
            issued_keys.take_request(workspace(), key)
        except RateLimitedError as exc:
            raise OpenAIFailure(429, exc.message, "requests", "rate_limit_exceeded",
                                {"Retry-After": str(exc.retry_after)}) from None
        except FinetuneError:  # revoked meanwhile
            raise OpenAIFailure(401, "this API key is not valid", "invalid_request_error", "invalid_api_key") from None
        chat = _chat_model(key, model, body)
        messages = [message.message() for message in body.messages]
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if body.stream:
            return _streamed(key, model, body, chat, messages, completion_id, created)
        try:
            reply: ChatReply = model_streams.complete_on_thread(chat, messages, executor=answer_pool())
        except Exception as exc:
            raise _unavailable(model, exc) from None
        prompt = reply.input_tokens if reply.input_tokens is not None else sum(_estimate(m.content) for m in messages)
        completion = reply.output_tokens if reply.output_tokens is not None else _estimate(reply.text)
        issued_keys.record_usage(workspace(), key.id, input_tokens=prompt, output_tokens=completion)
        return jsonify({
            "id": completion_id, "object": "chat.completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                         "logprobs": None, "finish_reason": _finish(reply.finish_reason)}],
            "usage": _usage(prompt, completion),
        })


def _streamed(key: IssuedKey, model: TrainedModel, body: ChatCompletionRequest, chat: ChatModel,
              messages: list[Message], completion_id: str, created: int) -> Response:
    stream = model_streams.stream_on_thread(chat, messages, executor=answer_pool())
    if stream.error is not None and not stream.pieces:
        raise _unavailable(model, stream.error)
    workspace_ = workspace()
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None,
              choices: bool = True) -> str:
        payload: dict[str, Any] = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                                   "model": body.model,
                                   "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                "finish_reason": finish}] if choices else []}
        if include_usage:
            payload["usage"] = usage
        return f"data: {json.dumps(payload)}\n\n"

    def events() -> Iterator[str]:
        prompt = sum(_estimate(message.content) for message in messages)
        try:
            yield chunk({"role": "assistant", "content": ""})
            for piece in stream.follow():
                yield chunk({"content": piece})
            if stream.error is not None:
                failure = _unavailable(model, stream.error)
                yield f"data: {json.dumps(error_body(failure.message, failure.error_type, failure.code))}\n\n"
            else:
                yield chunk({}, "stop")
                if include_usage:
                    yield chunk({}, usage=_usage(prompt, _estimate("".join(stream.pieces))), choices=False)
            yield "data: [DONE]\n\n"
        finally:  # counted even when the client left early
            issued_keys.record_usage(workspace_, key.id, input_tokens=prompt,
                                     output_tokens=_estimate("".join(stream.pieces)))

    return Response(events(), mimetype=EVENT_STREAM, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@blp.route("/models")
class Models(MethodView):
    @issued_key_auth
    @blp.response(200, description='`{"object": "list", "data": [the key\'s model]}`')
    def get(self) -> Any:
        """The models the issued key can use: its own (OpenAI's model list)"""
        key, model = _authenticated()
        return jsonify({"object": "list", "data": [{
            "id": model.id, "object": "model", "created": int(model.created_at.timestamp()),
            "owned_by": key.owner_id or "local"}]})
