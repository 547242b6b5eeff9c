"""The dataset statistics and page counts the database aggregates agree with a pass over the examples themselves."""

from __future__ import annotations

from itertools import count

from finetune_core import Workspace
from finetune_core.curation.stats import dataset_stats
from finetune_core.domain import Example, Message
from finetune_core.services import curation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SPLITS = ("train", "eval", "preview", "unassigned")
CODES = ("output_too_short", "duplicate", "json_invalid", "judge_below_threshold")
PROJECTS = count()
MESSAGES = [Message(role="user", content="q"), Message(role="assistant", content="a")]

drafts = st.lists(st.tuples(st.sampled_from(SPLITS), st.integers(0, 5000),
                            st.lists(st.sampled_from(CODES), max_size=3)), max_size=40)


def store(ws: Workspace, rows: list[tuple[str, int, list[str]]]) -> tuple[str, list[Example]]:
    project = ws.create_project(f"stats {next(PROJECTS)}")
    examples = [Example(project_id=project.id, request_key=f"gen:stats:{index}", messages=MESSAGES,
                        split=split, token_count=tokens, is_valid=not codes, validation_errors=codes)  # type: ignore[arg-type]
                for index, (split, tokens, codes) in enumerate(rows)]
    with ws.unit_of_work() as uow:
        uow.examples.add(examples)
    return project.id, examples


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=drafts)
def test_aggregated_statistics_equal_a_pass_over_the_examples(finetune_workspace: Workspace,
                                                              rows: list[tuple[str, int, list[str]]]) -> None:
    project_id, examples = store(finetune_workspace, rows)
    config = finetune_workspace.project(project_id).config  # the split's warnings depend on it
    assert curation.stats(finetune_workspace, project_id) == dataset_stats(
        (example for example in examples if example.split != "preview"), config)
    assert curation.stats(finetune_workspace, project_id, include_preview=True) == dataset_stats(examples, config)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=drafts, split=st.sampled_from((None, *SPLITS)), is_valid=st.sampled_from((None, True, False)),
       offset=st.integers(0, 45), limit=st.integers(1, 20))
def test_a_page_counts_and_lists_what_the_filtered_listing_holds(
        finetune_workspace: Workspace, rows: list[tuple[str, int, list[str]]], split: str | None,
        is_valid: bool | None, offset: int, limit: int) -> None:
    project_id, examples = store(finetune_workspace, rows)
    listed, total = curation.list_examples(finetune_workspace, project_id, split=split, is_valid=is_valid,
                                           limit=limit, offset=offset)
    found, page_total, stats = curation.examples_page(finetune_workspace, project_id, split=split,
                                                      is_valid=is_valid, limit=limit, offset=offset)
    assert page_total == total == sum(1 for example in examples if (split is None or example.split == split)
                                      and (is_valid is None or example.is_valid is is_valid))
    assert [example.id for example in found] == [example.id for example in listed]
    assert stats == curation.stats(finetune_workspace, project_id)
