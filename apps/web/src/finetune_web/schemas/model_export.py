"""The export of a project's trained model (finetuneflow §9)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from finetune_web.pagination import Page


class ExportBody(BaseModel):
    merge: bool = Field(False, description="also write the adapter merged into its base model (slow, large)")


class ExportedFile(BaseModel):
    filename: str = Field(description="its name for GET …/export/download/{filename}")
    size_bytes: int


class ExportFiles(Page[ExportedFile]):
    """The files of the last export, the zip of them all last; empty until a first export has run.

    `items` is the page `limit`/`offset` ask for; `files` (finetuneflow) is always the whole list.
    """

    files: list[ExportedFile] = Field(description="every file, whatever the page (finetuneflow's key)")
    fine_tune_id: str | None = Field(description="the fine-tuning whose model they are")
    job_id: str | None = Field(description="the export job that wrote them")
