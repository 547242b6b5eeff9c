"""Documents: the text a source was loaded into, one per source."""

from __future__ import annotations

from sqlalchemy.orm import Session

from finetune_core.domain import Document
from finetune_core.storage.tables import DocumentRow


class DocumentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def save(self, source_id: str, document: Document) -> None:
        self.session.merge(DocumentRow(source_id=source_id, body=document.model_dump(mode="json")))
        self.session.flush()

    def get(self, source_id: str) -> Document | None:
        row = self.session.get(DocumentRow, source_id)
        return Document.model_validate(row.body) if row else None
