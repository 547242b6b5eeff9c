"""`anthropic` with `batch`: Anthropic's Message Batches API, through the official SDK's `messages.batches`.

`POST /v1/messages/batches` with `{"requests": [{"custom_id", "params": <the online request>}]}`: no
file. A custom id allows only `[A-Za-z0-9_-]{1,64}`, so a request key's other characters (`:`) become
`_` (`gen:<chunk id>:0` -> `gen_<chunk id>_0`). Polled with `GET /v1/messages/batches/{id}`
(`processing_status`: `in_progress`, `canceling`, `ended`); once ended, the results are the JSONL at
its `results_url`, a line per request: `{"custom_id", "result": {"type": "succeeded", "message"} |
{"type": "errored", "error"} | {"type": "canceled"} | {"type": "expired"}}`.

Found again (a run that died while creating it): a batch carries no metadata, so the run lists the
batches (`GET /v1/messages/batches`, newest first) created since a few minutes before its mark, with
as many requests as it sent; one that ended must also answer exactly its custom ids; one still
running cannot be checked further and is taken as it. A wrong pick costs no example: results of
other ids are skipped, and the requests it does not answer are failed requests, asked again by the
next run. Limits: 100,000 requests and 256 MB per batch.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from finetune_core.generation.base import GenerationRequest
from finetune_core.generation.batch import BatchStatus, BatchTicket
from finetune_core.generation.prompts import render_prompt

from finetune_providers._retry import TransientError
from finetune_providers.anthropic_sdk import AnthropicClient, AnthropicGenerator
from finetune_providers.batches._common import BatchLine, ProviderBatches, error_text

LOOK_BACK_S = 300.0  # clocks differ: batches created this long before the mark are candidates too
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]")


class AnthropicBatchGenerator(ProviderBatches, AnthropicGenerator):
    """The `anthropic` generator, with Anthropic's Message Batches API (see the module doc)."""

    batch_max_requests: ClassVar[int] = 100_000
    batch_max_bytes: ClassVar[int] = 250 * 1024 * 1024  # 256 MB, less a margin

    @property
    def anthropic(self) -> AnthropicClient:
        client = self.client
        assert isinstance(client, AnthropicClient)
        return client

    def custom_id(self, key: str) -> str:
        return _NOT_ALLOWED.sub("_", key)[:64]

    def batch_line(self, request: GenerationRequest) -> dict[str, Any]:
        params = self.anthropic._request(render_prompt(request))
        params.update(params.pop("extra_body", None) or {})  # what the SDK would add to the body online
        return {"custom_id": self.custom_id(request.key), "params": params}

    async def _create(self, ticket: BatchTicket, lines: list[dict[str, Any]]) -> str:
        batch = await self._sdk().messages.batches.create(requests=lines)
        return str(batch.id)

    async def _find(self, ticket: BatchTicket, lines: list[dict[str, Any]]) -> str | None:
        ours = {line["custom_id"] for line in lines}
        async for batch in self._sdk().messages.batches.list(limit=100):
            if batch.created_at.timestamp() < ticket.marked_at - LOOK_BACK_S:
                break  # newest first: the rest were made before this batch was marked
            counts = batch.request_counts
            total = counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired
            if total != len(lines):
                continue
            if batch.processing_status != "ended":
                return str(batch.id)  # cannot be checked further while it runs (see the module doc)
            if {line.custom_id for line in await self._lines(batch.id)} == ours:
                return str(batch.id)
        return None

    async def _status(self, batch_id: str) -> BatchStatus:
        batch = await self._sdk().messages.batches.retrieve(batch_id)
        counts = batch.request_counts
        done = counts.succeeded + counts.errored + counts.canceled + counts.expired
        return BatchStatus(status=batch.processing_status, ended=batch.processing_status == "ended",
                           done=done, total=done + counts.processing)

    async def _lines(self, batch_id: str) -> list[BatchLine]:
        decoder = await self._sdk().messages.batches.results(batch_id)
        return [self._line(item) async for item in decoder]

    def _line(self, item: Any) -> BatchLine:
        result = item.result
        if result.type == "succeeded":
            try:
                return BatchLine(item.custom_id, completion=self.anthropic._completion(result.message))
            except TransientError as exc:
                return BatchLine(item.custom_id, error=exc.message)
        if result.type == "errored":
            error = result.error.model_dump() if hasattr(result.error, "model_dump") else result.error
            return BatchLine(item.custom_id, error=error_text(error))
        return BatchLine(item.custom_id, error=f"the request was {result.type}")

    async def _cancel(self, batch_id: str) -> None:
        await self._sdk().messages.batches.cancel(batch_id)
