"""The passages of a chat's and its agent's documents most relevant to a question, ranked by BM25 (bm25s).

The candidates are the chunks of the documents attached to the chat or its agent: a few hundred at most for
the 10 MB documents these are, so they are ranked in memory per question rather than kept in an index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import bm25s

from finetune_core.domain import Chunk, Citation, SourceStatus
from finetune_core.services import attachments

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

TOP_K = 4
EXCERPT_CHARS = 300
MAX_CANDIDATES = 5000  # chunks ranked per question; a chat with more documents ranks their first chunks


def passages(workspace: WorkspacePort, owner_id: str | None, question: str, entities: list[tuple[str, str]],
             *, k: int = TOP_K) -> list[tuple[Chunk, Citation]]:
    """Up to `k` chunks of the documents attached to `entities`, best first, each with how an answer cites it;
    only chunks that share a term with the question."""
    documents = [source for source in attachments.attached_documents(workspace, owner_id, entities)
                 if source.status is SourceStatus.READY]
    if not documents or not question.strip():
        return []
    names = {source.id: source.name for source in documents}
    with workspace.unit_of_work() as uow:
        chunks = [chunk for source in documents
                  for chunk in uow.chunks.search(source.project_id, source_id=source.id, limit=None)[0]]
    chunks = chunks[:MAX_CANDIDATES]
    if not chunks:
        return []
    corpus = bm25s.tokenize([chunk.content for chunk in chunks], stopwords="en", show_progress=False)
    ranker = bm25s.BM25()
    ranker.index(corpus, show_progress=False)
    query = bm25s.tokenize([question], stopwords="en", return_ids=False, show_progress=False)
    if not any(term in ranker.vocab_dict for term in query[0]):
        return []
    found, scores = ranker.retrieve(query, k=min(k, len(chunks)), show_progress=False)
    ranked = []
    for index, score in zip(found[0].tolist(), scores[0].tolist(), strict=True):
        if score <= 0:
            continue
        chunk = chunks[index]
        ranked.append((chunk, Citation(
            document_id=chunk.source_id, document_name=names[chunk.source_id], chunk_id=chunk.id,
            chunk_index=chunk.chunk_index, page=chunk.page_start, score=round(float(score), 4),
            excerpt=chunk.content[:EXCERPT_CHARS])))
    return ranked
