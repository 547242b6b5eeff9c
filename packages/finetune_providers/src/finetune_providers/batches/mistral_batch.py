"""`mistral` with `batch`: Mistral's Batch API, through the official `mistralai` SDK's `files` and `batch.jobs`.

The requests go as one JSONL file (`POST /v1/files`, purpose `batch`), a line per request:
`{"custom_id": <request key>, "body": <the online request's body>}`; then `POST /v1/batch/jobs`
(`input_files`, endpoint `/v1/chat/completions`, the model, metadata `{"finetune_batch": <label>}`).
As with OpenAI, the uploaded file's id is kept with the ticket before the job is created.

Found again (a run that died while creating it): `GET /v1/batch/jobs` (newest first, created since an
hour before the mark), the job whose metadata holds the label. Polled with `GET /v1/batch/jobs/{id}`
(`QUEUED`, `RUNNING`, `CANCELLATION_REQUESTED`; ended: `SUCCESS`, `FAILED`, `TIMEOUT_EXCEEDED`,
`CANCELLED`); the answers are the lines of its `output_file` and `error_file` (`GET
/v1/files/{id}/content`), read as `{"custom_id", "response": {"status_code", "body"}, "error"}`.
Limit: 1,000,000 requests per batch (and a file of at most 512 MB).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar

from finetune_core.generation.base import GenerationRequest
from finetune_core.generation.batch import BatchStatus, BatchTicket
from finetune_core.generation.prompts import render_prompt

from finetune_providers._base import Completion
from finetune_providers.batches._common import BatchLine, ProviderBatches, error_text
from finetune_providers.mistral_sdk import MistralClient, MistralGenerator

ENDPOINT = "/v1/chat/completions"
LABEL_FIELD = "finetune_batch"
ENDED = frozenset({"SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"})
LOOK_BACK_S = 3600.0
PAGE_SIZE = 100


class MistralBatchGenerator(ProviderBatches, MistralGenerator):
    """The `mistral` generator, with Mistral's Batch API (see the module doc)."""

    batch_max_requests: ClassVar[int] = 1_000_000
    batch_max_bytes: ClassVar[int] = 500 * 1024 * 1024

    @property
    def mistral(self) -> MistralClient:
        client = self.client
        assert isinstance(client, MistralClient)
        return client

    def batch_line(self, request: GenerationRequest) -> dict[str, Any]:
        body = self.mistral._request(render_prompt(request))
        body.pop("http_headers", None)  # an SDK argument, not a field of the body
        return {"custom_id": self.custom_id(request.key), "body": body}

    async def _create(self, ticket: BatchTicket, lines: list[dict[str, Any]]) -> str:
        sdk = self._sdk()
        file_id = ticket.memo.get("input_file")
        if not file_id:
            data = "".join(json.dumps(line) + "\n" for line in lines).encode()
            uploaded = await sdk.files.upload_async(file={"file_name": f"{ticket.label}.jsonl", "content": data},
                                                    purpose="batch")
            file_id = uploaded.id
            ticket.remember(input_file=file_id)
        job = await sdk.batch.jobs.create_async(input_files=[file_id], endpoint=ENDPOINT, model=self.mistral.model,
                                                metadata={LABEL_FIELD: ticket.label})
        return str(job.id)

    async def _find(self, ticket: BatchTicket, lines: list[dict[str, Any]]) -> str | None:
        since = datetime.fromtimestamp(ticket.marked_at - LOOK_BACK_S, UTC)
        page = 0
        while True:
            listed = await self._sdk().batch.jobs.list_async(page=page, page_size=PAGE_SIZE, created_after=since)
            jobs = listed.data or []
            for job in jobs:
                if (job.metadata or {}).get(LABEL_FIELD) == ticket.label:
                    return str(job.id)
            page += 1
            if len(jobs) < PAGE_SIZE or page * PAGE_SIZE >= listed.total:
                return None

    async def _status(self, batch_id: str) -> BatchStatus:
        job = await self._sdk().batch.jobs.get_async(job_id=batch_id)
        errors = [str(getattr(error, "message", "") or "") for error in job.errors or []]
        return BatchStatus(status=str(job.status), ended=job.status in ENDED, done=job.completed_requests,
                           total=job.total_requests,
                           error=("; ".join(filter(None, errors)) or None) if job.status == "FAILED" else None)

    async def _lines(self, batch_id: str) -> list[BatchLine]:
        sdk = self._sdk()
        job = await sdk.batch.jobs.get_async(job_id=batch_id)
        lines: list[BatchLine] = []
        for file_id in (job.output_file, job.error_file):
            if not file_id:
                continue
            response = await sdk.files.download_async(file_id=file_id)
            try:
                text = (await response.aread()).decode()
            finally:
                await response.aclose()
            lines.extend(self._line(json.loads(row)) for row in text.splitlines() if row.strip())
        return lines

    def _line(self, record: dict[str, Any]) -> BatchLine:
        custom_id = str(record.get("custom_id"))
        response = record.get("response") or {}
        body = response.get("body")
        if record.get("error") or response.get("status_code") != 200 or not isinstance(body, dict):
            problem = record.get("error") or body or f"HTTP {response.get('status_code')}"
            return BatchLine(custom_id, error=error_text(problem))
        choices = body.get("choices") or []
        if not choices:
            return BatchLine(custom_id, error="malformed answer from the Mistral API: no choices")
        message = choices[0].get("message") or {}
        content = message.get("content")
        if isinstance(content, list):  # content chunks
            content = "".join(str(part.get("text") or "") for part in content if isinstance(part, dict))
        usage = body.get("usage") or {}
        return BatchLine(custom_id, completion=Completion(
            text=str(content or ""), input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"), finish_reason=choices[0].get("finish_reason")))

    async def _cancel(self, batch_id: str) -> None:
        await self._sdk().batch.jobs.cancel_async(job_id=batch_id)
