"""`together` with `batch`: Together AI's Batch API, through raw requests on the `openai` SDK client.

Together's answers are not OpenAI's batch objects (a creation wraps the batch in `job`, statuses are in
capitals, no request counts), so the SDK's typed `files` and `batches` are not used: the SDK client's
generic `post`/`get` send the requests, with the same key, base URL, transport and error mapping as
online (`client._sdk_errors`).

The requests go as one JSONL file (`POST /v1/files/upload`, multipart: `purpose=batch-api`,
`file_name`, `file_type=jsonl`, `file`), a line per request: `{"custom_id": <request key>, "body":
<the online request's body>}` (no `method` or `url`: the endpoint is the batch's). A custom id is at
most 64 characters: a longer key goes as its first characters and a hash. Then `POST /v1/batches`
(`input_file_id`, endpoint `/v1/chat/completions`, window `24h`), answered `{"job": <the batch>,
"warning"}`. The uploaded file's id is kept with the ticket before the batch is created, so a retry or a
rerun does not upload it again.

Found again (a run that died while creating it): a batch carries no metadata, but the input file is
ours alone: `GET /v1/batches` (a JSON array of batches), the newest one created since an hour before the
mark whose `input_file_id` is the file kept in the memo (no file kept: none was created).

Polled with `GET /v1/batches/{id}` (the batch itself: `VALIDATING`, `IN_PROGRESS`; ended: `COMPLETED`,
`FAILED`, `EXPIRED`, `CANCELLED`); its `progress` is a percentage (0-100), turned into requests done
when this process knows the batch's size. The answers are the lines of `output_file_id` (`{"custom_id",
"response": {"status_code", "body": <a chat completion>}}`) and of `error_file_id` (`{"custom_id",
"error": {"message", "code"}}`), read with `GET /v1/files/{id}/content`, in no particular order.
Cancel: `POST /v1/batches/{id}/cancel`. Limits: 50,000 requests and 100 MB per batch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from finetune_core.generation.base import GenerationRequest, GeneratorSettings
from finetune_core.generation.batch import BatchStatus, BatchTicket
from finetune_core.generation.prompts import render_prompt

from finetune_providers._base import Completion
from finetune_providers._retry import TransientError
from finetune_providers.batches._common import BatchLine, ProviderBatches, error_text
from finetune_providers.openai_style_hosts import TogetherClient, TogetherGenerator

ENDPOINT = "/v1/chat/completions"
PURPOSE = "batch-api"
ENDED = frozenset({"COMPLETED", "FAILED", "EXPIRED", "CANCELLED"})
LOOK_BACK_S = 3600.0  # batches listed back to this long before the mark (clocks differ)
MAX_CUSTOM_ID = 64
_KEEP = MAX_CUSTOM_ID - 33  # of a longer key: its start, "-", 32 hex digits of its hash
_BEARER_ONLY: dict[str, Any] = {"security": {"bearer_auth": True}}  # the SDK would add OpenAI's admin key too


class TogetherBatchGenerator(ProviderBatches, TogetherGenerator):
    """The `together` generator, with Together AI's Batch API (see the module doc)."""

    batch_max_requests: ClassVar[int] = 50_000
    batch_max_bytes: ClassVar[int] = 95 * 1024 * 1024  # 100 MB, less a margin

    def __init__(self, settings: GeneratorSettings | None = None, *, transport: Any | None = None) -> None:
        super().__init__(settings, transport=transport)
        self._sizes: dict[str, int] = {}  # batch id -> requests, for the batches this process sent or found

    @property
    def together(self) -> TogetherClient:
        client = self.client
        assert isinstance(client, TogetherClient)
        return client

    def custom_id(self, key: str) -> str:
        if len(key) <= MAX_CUSTOM_ID:
            return key
        return f"{key[:_KEEP]}-{hashlib.sha256(key.encode()).hexdigest()[:32]}"

    def batch_line(self, request: GenerationRequest) -> dict[str, Any]:
        return {"custom_id": self.custom_id(request.key), "body": self.together._request(render_prompt(request))}

    async def submit_batch(self, ticket: BatchTicket, requests: Sequence[GenerationRequest]) -> str:
        batch_id = await super().submit_batch(ticket, requests)
        self._sizes[batch_id] = len(requests)
        return batch_id

    # --- the provider's side -----------------------------------------------------------------------
    async def _create(self, ticket: BatchTicket, lines: list[dict[str, Any]]) -> str:
        sdk = self._sdk()
        file_id = ticket.memo.get("input_file")
        if not file_id:
            name = f"{ticket.label}.jsonl"
            data = "".join(json.dumps(line) + "\n" for line in lines).encode()
            uploaded = await sdk.post("/files/upload", cast_to=object,
                                      body={"purpose": PURPOSE, "file_name": name, "file_type": "jsonl"},
                                      files={"file": (name, data, "application/jsonl")},
                                      options={"headers": {"Content-Type": "multipart/form-data"}, **_BEARER_ONLY})
            file_id = _text(_object(uploaded).get("id"))
            ticket.remember(input_file=file_id)
        created = _object(await sdk.post("/batches", cast_to=object, options=_BEARER_ONLY, body={
            "input_file_id": file_id, "endpoint": ENDPOINT, "completion_window": "24h"}))
        return _text(_batch(created).get("id"))

    async def _find(self, ticket: BatchTicket, lines: list[dict[str, Any]]) -> str | None:
        file_id = ticket.memo.get("input_file")
        if not file_id:
            return None  # the batch is created after its file's id is kept: without one, none was created
        listed = await self._sdk().get("/batches", cast_to=object, options=_BEARER_ONLY)
        batches = listed.get("data") if isinstance(listed, Mapping) else listed
        since = ticket.marked_at - LOOK_BACK_S
        found: list[tuple[float, str]] = []
        for batch in batches if isinstance(batches, list) else []:
            if not isinstance(batch, Mapping) or batch.get("input_file_id") != file_id or not batch.get("id"):
                continue
            created = _epoch(batch.get("created_at"))
            if created is None or created >= since:
                found.append((created or since, str(batch["id"])))
        return max(found)[1] if found else None

    async def _status(self, batch_id: str) -> BatchStatus:
        batch = await self._batch(batch_id)
        status = str(batch.get("status") or "unknown")
        total = self._sizes.get(batch_id, 0)
        done = total if status == "COMPLETED" else round(total * _progress(batch.get("progress")) / 100)
        return BatchStatus(status=status, ended=status in ENDED, done=done, total=total,
                           error=str(batch.get("error") or "") or None)

    async def _lines(self, batch_id: str) -> list[BatchLine]:
        sdk = self._sdk()
        batch = await self._batch(batch_id)
        lines: list[BatchLine] = []
        for file_id in (batch.get("output_file_id"), batch.get("error_file_id")):
            if not file_id:
                continue
            text = await sdk.get(f"/files/{file_id}/content", cast_to=str,
                                 options={"headers": {"Accept": "application/binary"}, **_BEARER_ONLY})
            lines.extend(self._line(row) for row in str(text).splitlines() if row.strip())
        return lines

    async def _cancel(self, batch_id: str) -> None:
        await self._sdk().post(f"/batches/{batch_id}/cancel", cast_to=object, options=_BEARER_ONLY)

    # --- reading -------------------------------------------------------------------------------------
    async def _batch(self, batch_id: str) -> dict[str, Any]:
        return _batch(_object(await self._sdk().get(f"/batches/{batch_id}", cast_to=object, options=_BEARER_ONLY)))

    def _line(self, row: str) -> BatchLine:
        try:
            record = json.loads(row)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            return BatchLine("", error="malformed line in the Together AI batch's results")
        custom_id = str(record.get("custom_id"))
        response = record.get("response") or {}
        body = response.get("body") if isinstance(response, dict) else None
        status = response.get("status_code") if isinstance(response, dict) else None
        if record.get("error") or status not in (None, 200) or not isinstance(body, dict):
            problem = record.get("error") or body or f"HTTP {status}"
            return BatchLine(custom_id, error=error_text(problem))
        choices = body.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            return BatchLine(custom_id, error="malformed answer from the Together AI API: no choices")
        message = choices[0].get("message") or {}
        usage = body.get("usage") or {}
        return BatchLine(custom_id, completion=Completion(
            text=str(message.get("content") or ""), input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"), finish_reason=choices[0].get("finish_reason")))


def _object(value: Any) -> dict[str, Any]:
    """A JSON object the API answered; TransientError (retried) for anything else."""
    if not isinstance(value, dict):
        raise TransientError("malformed response from the Together AI API")
    return value


def _batch(value: dict[str, Any]) -> dict[str, Any]:
    """The batch of an answer: a creation wraps it in `job`, a read does not."""
    job = value.get("job")
    return _object(job) if job is not None else value


def _text(value: Any) -> str:
    if not value:
        raise TransientError("malformed response from the Together AI API: no id")
    return str(value)


def _progress(value: Any) -> float:
    try:
        return min(max(float(value), 0.0), 100.0)
    except (TypeError, ValueError):
        return 0.0


def _epoch(value: Any) -> float | None:
    """An ISO 8601 time (`2024-01-15T14:30:00Z`) as epoch seconds; None when unreadable."""
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None
