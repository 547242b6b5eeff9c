"""The forum's full-text search on each backend: FTS5 on SQLite, a tsvector GIN index on PostgreSQL."""

from __future__ import annotations

import pytest
from finetune_core import passwords
from finetune_core.services import forum, users
from finetune_core.workspace import Workspace
from sqlalchemy import inspect, text


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "DEFAULT_COST", passwords.ScryptCost(n=2**10, r=8, p=1))


def _titles(workspace: Workspace, search: str, **filters: str) -> list[str]:
    return [topic.title for topic in forum.list_topics(workspace, search=search, **filters)[0]]


@pytest.mark.parametrize("workspace_on_each_backend", ["sqlite", "postgresql"], indirect=True)
def test_search_matches_every_word_in_title_or_content(workspace_on_each_backend: Workspace) -> None:
    workspace = workspace_on_each_backend
    author = users.register(workspace, "author@example.com", "correct horse battery").id
    forum.create_topic(workspace, author, title="LoRA adapters", content="Choosing rank and alpha",
                       category="tutorials")
    forum.create_topic(workspace, author, title="Out of memory", content="QLoRA quantises the base model",
                       category="questions")
    edited = forum.create_topic(workspace, author, title="Dataset sizes", content="how many examples",
                                category="questions")

    assert _titles(workspace, "lora") == ["LoRA adapters"]  # a title word, any case
    assert _titles(workspace, "quantises") == ["Out of memory"]  # a content word
    assert _titles(workspace, "RANK alpha") == ["LoRA adapters"]  # every word, anywhere
    assert _titles(workspace, "rank memory") == []
    assert _titles(workspace, "examples", category="tutorials") == []
    assert _titles(workspace, '"* OR NOT (') == []  # the query language's operators are not the caller's
    assert _titles(workspace, "!!!") == []

    with workspace.unit_of_work() as uow:  # an edit reaches the index, a deletion leaves it
        uow.session.execute(text("UPDATE forum_topics SET content = 'tokens per epoch' WHERE id = :id"),
                            {"id": edited.id})
    assert _titles(workspace, "epoch") == ["Dataset sizes"] and _titles(workspace, "examples") == []
    forum.delete_topic(workspace, edited.id, author)
    assert _titles(workspace, "epoch") == []
    assert forum.list_topics(workspace, search="lora memory quantises")[1] == 0


@pytest.mark.parametrize("workspace_on_each_backend", ["sqlite", "postgresql"], indirect=True)
def test_each_backend_has_its_own_search_index(workspace_on_each_backend: Workspace) -> None:
    engine = workspace_on_each_backend.engine
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            assert "forum_topics_fts" in inspect(connection).get_table_names()
        else:
            plan = connection.execute(text(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_forum_topics_search'")).scalar()
            assert plan is not None and "gin" in plan and "to_tsvector" in plan
