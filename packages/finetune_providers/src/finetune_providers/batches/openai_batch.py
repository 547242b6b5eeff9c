"""`openai` with `batch`: OpenAI's Batch API, through the official SDK's `files` and `batches`.

The requests go as one JSONL file (`POST /v1/files`, purpose `batch`), a line per request:
`{"custom_id": <request key>, "method": "POST", "url": "/v1/chat/completions", "body": <the online
request's body>}`; then `POST /v1/batches` (endpoint `/v1/chat/completions`, window `24h`, metadata
`{"finetune_batch": <label>}`). The uploaded file's id is kept with the batch's ticket before the
batch is created, so a retry or a rerun does not upload it again (a crash between the upload and
keeping its id leaves one orphan file, which OpenAI deletes after 30 days).

Found again (a run that died while creating it): `GET /v1/batches`, newest first, the batch whose
metadata holds the label, looking back to an hour before the mark. Polled with `GET /v1/batches/{id}`
(`validating`, `in_progress`, `finalizing`, `cancelling`; ended: `completed`, `failed`, `expired`,
`cancelled`); the answers are the lines of `output_file_id` and `error_file_id`
(`GET /v1/files/{id}/content`): `{"custom_id", "response": {"status_code", "body"}, "error"}`.
Limits: 50,000 requests and 200 MB per batch.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from finetune_core.generation.base import GenerationRequest
from finetune_core.generation.batch import BatchStatus, BatchTicket
from finetune_core.generation.prompts import render_prompt
from pydantic import ValidationError

from finetune_providers._retry import TransientError
from finetune_providers.batches._common import BatchLine, ProviderBatches, error_text
from finetune_providers.openai_sdk import OpenAIClient, OpenAIGenerator

ENDPOINT = "/v1/chat/completions"
LABEL_FIELD = "finetune_batch"
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
LOOK_BACK_S = 3600.0  # batches listed back to this long before the mark (clocks differ)


class OpenAIBatchGenerator(ProviderBatches, OpenAIGenerator):
    """The `openai` generator, with OpenAI's Batch API (see the module doc)."""

    batch_max_requests: ClassVar[int] = 50_000
    batch_max_bytes: ClassVar[int] = 190 * 1024 * 1024  # 200 MB, less a margin

    @property
    def openai(self) -> OpenAIClient:
        client = self.client
        assert isinstance(client, OpenAIClient)
        return client

    def batch_line(self, request: GenerationRequest) -> dict[str, Any]:
        return {"custom_id": self.custom_id(request.key), "method": "POST", "url": ENDPOINT,
                "body": self.openai._request(render_prompt(request))}

    async def _create(self, ticket: BatchTicket, lines: list[dict[str, Any]]) -> str:
        sdk = self._sdk()
        file_id = ticket.memo.get("input_file")
        if not file_id:
            data = "".join(json.dumps(line) + "\n" for line in lines).encode()
            uploaded = await sdk.files.create(file=(f"{ticket.label}.jsonl", data, "application/jsonl"),
                                              purpose="batch")
            file_id = uploaded.id
            ticket.remember(input_file=file_id)
        batch = await sdk.batches.create(input_file_id=file_id, endpoint=ENDPOINT, completion_window="24h",
                                         metadata={LABEL_FIELD: ticket.label})
        return str(batch.id)

    async def _find(self, ticket: BatchTicket, lines: list[dict[str, Any]]) -> str | None:
        async for batch in self._sdk().batches.list(limit=100):
            if (batch.metadata or {}).get(LABEL_FIELD) == ticket.label:
                return str(batch.id)
            if batch.created_at < ticket.marked_at - LOOK_BACK_S:
                break  # newest first: older ones were made before this batch was marked
        return None

    async def _status(self, batch_id: str) -> BatchStatus:
        batch = await self._sdk().batches.retrieve(batch_id)
        counts = batch.request_counts
        errors = [error.message or error.code or "" for error in (batch.errors.data or [])] if batch.errors else []
        return BatchStatus(status=batch.status, ended=batch.status in ENDED,
                           done=(counts.completed + counts.failed) if counts else 0,
                           total=counts.total if counts else 0,
                           error="; ".join(filter(None, errors)) or None)

    async def _lines(self, batch_id: str) -> list[BatchLine]:
        sdk = self._sdk()
        batch = await sdk.batches.retrieve(batch_id)
        lines: list[BatchLine] = []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            content = await sdk.files.content(file_id)
            lines.extend(self._line(json.loads(text)) for text in content.text.splitlines() if text.strip())
        return lines

    def _line(self, record: dict[str, Any]) -> BatchLine:
        from openai.types.chat import ChatCompletion

        custom_id = str(record.get("custom_id"))
        response = record.get("response") or {}
        if record.get("error") or response.get("status_code") != 200:
            problem = record.get("error") or response.get("body") or f"HTTP {response.get('status_code')}"
            return BatchLine(custom_id, error=error_text(problem))
        try:
            completion = self.openai._completion(ChatCompletion.model_validate(response.get("body")))
        except (ValidationError, TransientError):  # a malformed answer is this request's failure
            return BatchLine(custom_id, error="malformed answer from the OpenAI API")
        return BatchLine(custom_id, completion=completion)

    async def _cancel(self, batch_id: str) -> None:
        await self._sdk().batches.cancel(batch_id)
