"""The `reasoning` and `preference` task types: prompts and parsing, offline generation, ranking (a judge model and
the offline grounding score), validation, the reasoning in chat exports, the `openai-preference` and `dpo`
exports, and the whole flow through the Workspace API."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from finetune_core import Workspace, hookimpl
from finetune_core.chat import ChatModel, ChatReply
from finetune_core.curation.base import ValidationContext
from finetune_core.curation.grounding import grounding_parts, grounding_score
from finetune_core.curation.judge import CRITERIA
from finetune_core.curation.validators import (
    DuplicateValidator,
    EmptyFieldValidator,
    MaxTokensValidator,
    PreferenceValidator,
    TooShortValidator,
)
from finetune_core.domain import Chunk, Example, JobStatus, Message, ProjectConfig, TaskType
from finetune_core.domain.task_fields import candidates_of, is_ranked, preference_pair, ranked
from finetune_core.errors import NoPreferencePairsError
from finetune_core.export.base import ExportOptions
from finetune_core.export.formats import (
    AlpacaExporter,
    AnthropicExporter,
    DPOExporter,
    HFChatExporter,
    OpenAIExporter,
    OpenAIPreferenceExporter,
    ShareGPTExporter,
)
from finetune_core.export.writer import iter_export_lines
from finetune_core.generation.base import GenerationRequest
from finetune_core.generation.extractive import extract_examples
from finetune_core.generation.parsing import parse_examples
from finetune_core.generation.prompts import SCHEMAS, render_prompt
from finetune_core.services import judging
from kits.preference import HANDBOOK


def _request(task_type: TaskType, *, n_examples: int = 5, round_: int = 0, language: str = "en") -> GenerationRequest:
    chunk = Chunk(id="chunk-1", project_id="p", source_id="s", chunk_index=0, content=HANDBOOK, token_count=200)
    return GenerationRequest(key=f"chunk-1:{round_}", chunk=chunk, round=round_, task_type=task_type,
                             n_examples=n_examples, language=language, source_name="handbook.md")


def _pair(question: str, first: str, second: str, **fields: Any) -> Example:
    """An unranked preference example, as generation stores it."""
    metadata = {"candidates": [first, second], "draft_errors": [], **fields.pop("metadata", {})}
    return Example(project_id="p", messages=[Message(role="user", content=question),
                                             Message(role="assistant", content=first)], metadata=metadata, **fields)


class Words:
    name = "words"

    def encode(self, text: str) -> list[int]:
        return [len(word) for word in text.split()]

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join("x" * i for i in ids)

    def count(self, text: str) -> int:
        return len(text.split())


def _context(**config: Any) -> ValidationContext:
    return ValidationContext(config=ProjectConfig(**config), tokenizer=Words(), chunks={})


# --- prompts and parsing ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("task_type", "fields", "words"), [
    (TaskType.REASONING, {"question", "reasoning", "answer", "evidence"}, "exactly 3 questions with their reasoning"),
    (TaskType.PREFERENCE, {"question", "answer_a", "answer_b", "evidence"}, "exactly 3 questions with two answers"),
])
def test_the_prompts_ask_for_the_new_fields(task_type: TaskType, fields: set[str], words: str) -> None:
    system, user = render_prompt(_request(task_type, n_examples=3))
    assert set(json.loads(SCHEMAS[task_type])["examples"][0]) == fields
    assert SCHEMAS[task_type] in user.content and words in user.content and "JSON" in system.content
    _, french = render_prompt(_request(task_type, n_examples=2, language="fr"))
    assert "Rédigez exactement 2 questions avec" in french.content


def test_preference_prompt_asks_for_two_answers_of_different_quality() -> None:
    _, user = render_prompt(_request(TaskType.PREFERENCE))
    assert "two genuinely different answers of clearly different quality" in user.content
    assert "never say which" in user.content


def test_reasoning_is_parsed_apart_from_the_answer() -> None:
    raw = json.dumps({"examples": [
        {"question": "Why do part-timers accrue less?", "reasoning": "Leave accrues in proportion to hours.",
         "answer": "Because they work fewer contracted hours.", "evidence": "in proportion to their contracted hours"},
        {"question": "How long is the notice?", "answer": "<think>The portal rule says 14 days.</think>\n\n14 days."},
        {"question": "No reasoning given?", "answer": "An answer alone."},
    ]})
    first, inline, missing = parse_examples(raw, TaskType.REASONING, chunk_text=HANDBOOK)
    assert [(m.role, m.content) for m in first.messages] == [
        ("user", "Why do part-timers accrue less?"), ("assistant", "Because they work fewer contracted hours.")]
    assert first.metadata["reasoning"] == "Leave accrues in proportion to hours." and first.errors == []
    assert first.evidence == "in proportion to their contracted hours"
    assert inline.messages[1].content == "14 days." and inline.metadata["reasoning"] == "The portal rule says 14 days."
    assert missing.errors == ["empty_field"] and missing.raw is not None


def test_preference_answers_are_parsed_as_two_candidates_in_the_order_written() -> None:
    raw = json.dumps({"examples": [
        {"question": "When do carried-over days expire?", "answer_a": "Soon.",
         "answer_b": "Carried-over days expire on 31 March.", "evidence": "expire on 31 March"},
        {"question": "Q2?", "chosen": "A labelled better one.", "rejected": "A labelled worse one."},
        {"question": "Q3?", "answer_a": "Only one answer."},
    ]})
    plain, labelled, half = parse_examples(raw, TaskType.PREFERENCE)
    assert plain.metadata["candidates"] == ["Soon.", "Carried-over days expire on 31 March."]
    assert [m.content for m in plain.messages] == ["When do carried-over days expire?", "Soon."]  # a placeholder
    assert plain.errors == [] and "rejected" not in plain.metadata and "margin" not in plain.metadata
    assert labelled.metadata["candidates"] == ["A labelled better one.", "A labelled worse one."]
    assert "rejected" not in labelled.metadata  # labels are not a ranking
    assert half.errors == ["empty_field"] and half.metadata["candidates"] == ["Only one answer.", ""]


# --- the extractive generator, offline ------------------------------------------------------------------------

def test_the_extractive_generator_writes_reasoning_offline() -> None:
    drafts = extract_examples(_request(TaskType.REASONING))
    assert len(drafts) == 5
    for draft in drafts:
        question, answer = draft.messages[0].content, draft.messages[1].content
        assert draft.errors == [] and draft.evidence and draft.evidence in HANDBOOK
        reasoning = draft.metadata["reasoning"]
        assert question in reasoning and answer in reasoning and reasoning != answer
        assert "<think>" not in answer


def test_the_extractive_generator_writes_two_candidates_in_no_fixed_order() -> None:
    drafts = [d for r in range(3) for d in extract_examples(_request(TaskType.PREFERENCE, round_=r))]
    assert len(drafts) >= 8
    firsts = []
    for draft in drafts:
        first, second = draft.metadata["candidates"]
        full, short = (first, second) if len(first) > len(second) else (second, first)
        assert full.startswith(short) and len(short.split()) >= 3 and short != full
        assert draft.messages[1].content == first and "rejected" not in draft.metadata
        firsts.append(first == full)
    assert any(firsts) and not all(firsts)  # the position says nothing about which is better


# --- ranking ---------------------------------------------------------------------------------------------------

def test_the_grounding_score_reads_support_completeness_and_relevance() -> None:
    question = "How many days of annual leave do full-time employees accrue?"
    full = "Full-time employees accrue 25 days of annual leave per calendar year."
    # the passage sentence has 14 content words ("part", "proportion"... in its second clause); the answer restates 10
    assert grounding_parts(full, HANDBOOK, question) == (1.0, pytest.approx(10 / 14), 1.0)
    cut = "Full-time employees accrue 25 days of"
    invented = "Full-time employees accrue 40 days of annual leave and a yearly bonus in December."
    assert grounding_score(full, HANDBOOK, question) > grounding_score(cut, HANDBOOK, question)
    assert grounding_parts(invented, HANDBOOK, question)[0] < 1.0
    assert grounding_score(full, HANDBOOK, question) > grounding_score(invented, HANDBOOK, question)
    assert grounding_score("", HANDBOOK, question) == 1.0


def test_offline_ranking_comes_from_the_texts_whatever_their_order() -> None:
    draft = next(d for d in extract_examples(_request(TaskType.PREFERENCE)) if "accrues" in d.messages[1].content
                 or "accrues" in d.metadata["candidates"][1])
    texts = candidates_of(Example(project_id="p", messages=draft.messages, metadata=draft.metadata))
    full = max(texts, key=len)
    results = []
    for order in (texts, texts[::-1]):
        example = _pair(draft.messages[0].content, *order)
        scores = [grounding_score(text, HANDBOOK, example.question) for text in order]
        results.append(ranked(example, scores, ranked_by="grounding"))
    for result in results:
        assert result.answer == full and result.metadata["rejected"] == min(texts, key=len)
        scores = result.metadata["chosen_score"], result.metadata["rejected_score"]
        assert result.metadata["margin"] == round(scores[0] - scores[1], 3)
        assert result.metadata["margin"] > 0 and result.metadata["tie"] is False and is_ranked(result)
    assert results[0].metadata["margin"] == results[1].metadata["margin"]


def test_equal_scores_are_a_tie_kept_but_not_a_pair() -> None:
    result = ranked(_pair("Q?", "First answer here.", "Second answer here."), [3.2, 3.2], ranked_by="judge")
    assert result.metadata["tie"] is True and result.metadata["margin"] == 0.0
    assert result.answer == "First answer here." and result.metadata["rejected"] == "Second answer here."
    assert preference_pair(result) is None
    reranked = ranked(result, [2.0, 4.5], ranked_by="judge")
    assert preference_pair(reranked) == ("Second answer here.", "First answer here.")


# --- validation ------------------------------------------------------------------------------------------------

def test_the_preference_validator_flags_unranked_identical_and_incomplete_pairs() -> None:
    good = _pair("What is annual leave?", "Paid time off accrued during the year.", "Time off.")
    examples = [
        good,
        ranked(good.model_copy(update={"id": "ranked"}), [4.0, 2.0], ranked_by="judge"),
        _pair("Q?", "Same  answer.", "same answer."),
        _pair("Q?", "An answer.", "  "),
        Example(project_id="p", messages=good.messages, metadata={"candidates": "not a list"}),
        Example(project_id="p", messages=good.messages, metadata={"rejected": "", "margin": 1.0}),
    ]
    codes = dict(PreferenceValidator().validate(examples, _context()))
    assert codes == {good.id: "preference_unranked", examples[2].id: "preference_identical",
                     examples[3].id: "preference_incomplete", examples[4].id: "preference_incomplete",
                     examples[5].id: "preference_incomplete"}


def test_the_other_validators_read_the_new_fields() -> None:
    blank = Example(project_id="p", messages=[Message(role="user", content="Q?"),
                                              Message(role="assistant", content="A full answer.")],
                    metadata={"reasoning": "   "})
    long_reasoning = blank.model_copy(update={"id": "long", "metadata": {"reasoning": "step " * 30}})
    assert dict(EmptyFieldValidator().validate([blank, long_reasoning], _context())) == {blank.id: "empty_field"}
    assert dict(MaxTokensValidator().validate([blank, long_reasoning], _context(max_seq_length=20))) == {
        "long": "too_many_tokens"}
    # unranked, the longer candidate is what a length check reads; the placeholder turn is the short one
    unranked = _pair("Q?", "Short.", "A much longer answer that is long enough.")
    assert list(TooShortValidator().validate([unranked], _context(min_output_chars=20))) == []
    short_chosen = ranked(unranked, [5.0, 1.0], ranked_by="judge")
    assert list(TooShortValidator().validate([short_chosen], _context(min_output_chars=20))) == [
        (unranked.id, "output_too_short")]


def test_a_pair_is_a_duplicate_of_the_same_pair_in_the_other_order_ranked_or_not() -> None:
    first = _pair("What is annual leave?", "Paid time off.", "Time off accrued during the year.")
    swapped = ranked(_pair("What is annual leave?", "Time off accrued during the year.", "Paid time off."),
                     [1.0, 4.0], ranked_by="judge")
    other = _pair("What is annual leave?", "Paid time off.", "Something else entirely.")
    assert list(DuplicateValidator().validate([first, swapped, other], _context())) == [(swapped.id, "duplicate")]


# --- exports ---------------------------------------------------------------------------------------------------

def _ranked_examples() -> list[Example]:
    system = Message(role="system", content="Answer from the handbook.")
    pair = ranked(_pair("When do carried-over days expire?", "Soon.", "On 31 March."), [2.0, 4.6], ranked_by="judge")
    pair = pair.model_copy(update={"messages": [system, *pair.messages]})
    tie = ranked(_pair("Q tie?", "One way.", "Another way."), [3.0, 3.0], ranked_by="judge")
    qa = Example(project_id="p", messages=[Message(role="user", content="What is a leave balance?"),
                                           Message(role="assistant", content="The days left this year.")])
    bare = ranked(_pair("Who approves?", "Managers approve requests.", "Someone."), [4.0, 1.5], ranked_by="grounding")
    unranked_but_valid = _pair("Q unranked?", "A.", "B.")  # curation marks it invalid; an exporter skips it anyway
    invalid = bare.model_copy(update={"id": "invalid", "is_valid": False})
    return [pair, tie, qa, bare, unranked_but_valid, invalid]


def _lines(exporter: Any, examples: list[Example], options: ExportOptions | None = None) -> list[str]:
    return [line.decode() for line in iter_export_lines(exporter, examples, options or ExportOptions())]


def test_openai_preference_lines_are_exact() -> None:
    assert _lines(OpenAIPreferenceExporter(), _ranked_examples()) == [
        '{"input":{"messages":[{"role":"system","content":"Answer from the handbook."},{"role":"user","content":'
        '"When do carried-over days expire?"}]},"preferred_output":[{"role":"assistant","content":"On 31 March."}],'
        '"non_preferred_output":[{"role":"assistant","content":"Soon."}]}\n',
        '{"input":{"messages":[{"role":"user","content":"Who approves?"}]},"preferred_output":[{"role":"assistant",'
        '"content":"Managers approve requests."}],"non_preferred_output":[{"role":"assistant","content":"Someone."}]}'
        '\n',
    ]
    with_default = _lines(OpenAIPreferenceExporter(), _ranked_examples(), ExportOptions(system_prompt="Be brief."))
    assert json.loads(with_default[1])["input"]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert json.loads(with_default[0])["input"]["messages"][0]["content"] == "Answer from the handbook."


def test_dpo_lines_are_exact_and_carry_the_margin() -> None:
    assert _lines(DPOExporter(), _ranked_examples(), ExportOptions(include_metadata=False)) == [
        '{"prompt":[{"role":"system","content":"Answer from the handbook."},{"role":"user","content":"When do '
        'carried-over days expire?"}],"chosen":[{"role":"assistant","content":"On 31 March."}],"rejected":'
        '[{"role":"assistant","content":"Soon."}],"margin":2.6}\n',
        '{"prompt":[{"role":"user","content":"Who approves?"}],"chosen":[{"role":"assistant","content":"Managers '
        'approve requests."}],"rejected":[{"role":"assistant","content":"Someone."}],"margin":2.5}\n',
    ]


@pytest.mark.parametrize("exporter", [OpenAIPreferenceExporter(), DPOExporter()], ids=lambda e: e.name)
def test_no_ranked_pair_is_a_clear_error(exporter: Any) -> None:
    examples = _ranked_examples()
    not_pairs = [examples[1], examples[2]]  # a tie and a qa example
    with pytest.raises(NoPreferencePairsError, match="no ranked preference pair") as raised:
        list(exporter.records(not_pairs, ExportOptions()))
    assert raised.value.error_code == "NO_PREFERENCE_PAIRS"
    assert (raised.value.context["not_preference"], raised.value.context["ties"]) == (1, 1)
    with pytest.raises(NoPreferencePairsError):
        list(exporter.records([], ExportOptions()))


def test_chat_exports_write_the_reasoning_before_the_answer() -> None:
    example = Example(project_id="p", messages=[Message(role="user", content="Why?"),
                                                Message(role="assistant", content="Because.")],
                      metadata={"reasoning": "Step one. Step two."})
    plain = example.model_copy(update={"id": "plain", "metadata": {}})
    written = "<think>\nStep one. Step two.\n</think>\n\nBecause."
    options = ExportOptions(include_metadata=False)
    openai, openai_plain = OpenAIExporter().records([example, plain], options)
    assert openai == {"messages": [{"role": "user", "content": "Why?"}, {"role": "assistant", "content": written}]}
    assert openai_plain["messages"][1]["content"] == "Because."
    assert next(iter(HFChatExporter().records([example], options)))["messages"][1]["content"] == written
    assert next(iter(ShareGPTExporter().records([example], options)))["conversations"][1]["value"] == written
    assert next(iter(AnthropicExporter().records([example], options)))["messages"][1]["content"] == written
    assert next(iter(AlpacaExporter().records([example], options)))["output"] == written
    assert example.answer == "Because."  # the stored answer stays the final answer alone


# --- the judge ranks pairs -------------------------------------------------------------------------------------

class PairJudge(ChatModel):
    """Scores the answer under review: 3 when it says "either", 5 when it ends a sentence, else 2."""

    name: ClassVar[str] = "pair-judge"
    asked: ClassVar[list[str]] = []

    async def complete(self, messages: list[Message]) -> ChatReply:
        answer = messages[-1].content.split("Example:", 1)[1].split("assistant: ", 1)[1].split('\n"""', 1)[0]
        PairJudge.asked.append(answer)
        score = 3 if "either" in answer else 5 if answer.endswith(".") else 2
        body = {name: score for name in CRITERIA} | {"reason": f"scored {score}"}
        return ChatReply(text=json.dumps(body), usage={"requests": 1.0})


class JudgePlugin:
    @hookimpl
    def finetune_register_chat_models(self, register):  # type: ignore[no-untyped-def]
        register(PairJudge)


def test_the_judge_ranks_each_pair_with_two_verdicts(finetune_workspace: Workspace, register_finetune_plugin,  # type: ignore[no-untyped-def]
                                                     tmp_path: Path) -> None:
    ws = finetune_workspace
    register_finetune_plugin(JudgePlugin(), name="pair-judge")
    PairJudge.asked = []
    project = ws.create_project("pairs", task_type="preference")
    examples = [
        _pair("When do carried-over days expire?", "Carried-over days expire on", "They expire on 31 March.",
              request_key="m:0"),
        _pair("Which way?", "Take either road to get there", "Go either way, both are fine",
              request_key="m:1"),
        Example(project_id="p", request_key="m:2", metadata={"draft_errors": []},
                messages=[Message(role="user", content="Plain question?"),
                          Message(role="assistant", content="A plain answer, long enough.")]),
    ]
    with ws.unit_of_work() as uow:
        uow.examples.add([example.model_copy(update={"project_id": project.id}) for example in examples])
    stats = ws.curate(project.id)
    assert stats["validation_errors"] == {"preference_unranked": 2} and stats["valid"] == 1

    summary = judging.judge(ws, project.id, chat_model_name="pair-judge")
    assert summary["judged"] == 3 and summary["valid"] == 3
    assert sorted(PairJudge.asked) == sorted(["Carried-over days expire on", "They expire on 31 March.",
                                              "Take either road to get there", "Go either way, both are fine",
                                              "A plain answer, long enough."])
    stored = {example.question: example for example in ws.examples(project.id)}
    pair = stored["When do carried-over days expire?"]
    assert pair.answer == "They expire on 31 March." and pair.metadata["rejected"] == "Carried-over days expire on"
    assert (pair.metadata["chosen_score"], pair.metadata["rejected_score"], pair.metadata["margin"]) == (5.0, 2.0, 3.0)
    assert pair.metadata["ranked_by"] == "judge" and pair.metadata["tie"] is False
    assert pair.judge_score == 5.0 and pair.judge_reason == "scored 5"
    assert pair.metadata["judge"]["rejected_scores"] == {name: 2.0 for name in CRITERIA}
    assert pair.is_valid and pair.split in {"train", "eval"}
    tie = stored["Which way?"]
    assert tie.metadata["tie"] is True and tie.metadata["margin"] == 0.0 and tie.is_valid
    assert stored["Plain question?"].judge_score == 5.0 and "rejected" not in stored["Plain question?"].metadata

    rows = [json.loads(line) for line in ws.export(project.id, "dpo", out=tmp_path / "dpo.jsonl").path.open()]
    assert rows == [{"prompt": [{"role": "user", "content": "When do carried-over days expire?"}],
                     "chosen": [{"role": "assistant", "content": "They expire on 31 March."}],
                     "rejected": [{"role": "assistant", "content": "Carried-over days expire on"}], "margin": 3.0}]
    sft = [json.loads(line) for line in ws.export(project.id, "openai", out=tmp_path / "sft.jsonl").path.open()]
    assert {"role": "assistant", "content": "They expire on 31 March."} in [r["messages"][-1] for r in sft]

    PairJudge.asked = []
    again = judging.judge(ws, project.id, chat_model_name="pair-judge")
    assert again["to_judge"] == 0 and PairJudge.asked == []  # ranked pairs are not asked again unless rejudged


# --- the whole flow, offline -----------------------------------------------------------------------------------

def _project(ws: Workspace, tmp_path: Path, task_type: str) -> str:
    document = tmp_path / "handbook.md"
    document.write_text(HANDBOOK, encoding="utf-8")
    project = ws.create_project(f"handbook {task_type}", task_type=task_type)
    ws.add_file(project.id, document)
    ws.ingest(project.id)
    ws.chunk(project.id)
    job = ws.generate(project.id, target=12, generator="extractive")
    assert job.status is JobStatus.SUCCESS, job.error
    return project.id


def test_preference_end_to_end_offline(finetune_workspace: Workspace, tmp_path: Path) -> None:
    ws = finetune_workspace
    project_id = _project(ws, tmp_path, "preference")
    stats = ws.stats(project_id)
    assert stats["total"] >= 5 and stats["valid"] == 0
    assert stats["validation_errors"]["preference_unranked"] == stats["total"]
    duplicates = stats["validation_errors"].get("duplicate", 0)  # the generator's rounds repeat a few, as for qa
    assert set(stats["validation_errors"]) <= {"preference_unranked", "duplicate"}
    with pytest.raises(NoPreferencePairsError, match="no ranked preference pair"):
        ws.export(project_id, "dpo", out=tmp_path / "early.jsonl")
    assert not (tmp_path / "early.jsonl").exists()

    job = ws.judge(project_id, "grounding")  # the offline ranking, through the judge job
    assert job.status is JobStatus.SUCCESS, job.error
    summary = job.result_summary
    assert summary["judged"] == summary["valid"] == stats["total"] - duplicates > 0
    examples = ws.examples(project_id, is_valid=True)
    pairs = [example for example in examples if not example.metadata["tie"]]
    assert pairs and all(example.metadata["ranked_by"] == "grounding" for example in examples)
    for example in pairs:  # the complete answer wins over the one cut short, wherever it stood
        assert example.answer == max(example.metadata["candidates"], key=len)
        assert example.metadata["margin"] > 0 and example.judge_score is None
    assert summary["ties"] == len(examples) - len(pairs)

    path = ws.export(project_id, "dpo", out=tmp_path / "dpo.jsonl").path
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(pairs)
    by_question = {example.question: example for example in pairs}
    for row in rows:
        example = by_question[row["prompt"][-1]["content"]]
        assert row["chosen"] == [{"role": "assistant", "content": example.answer}]
        assert row["rejected"] == [{"role": "assistant", "content": example.metadata["rejected"]}]
        assert row["margin"] == example.metadata["margin"]
    openai = ws.export(project_id, "openai-preference", out=tmp_path / "openai.jsonl")
    assert openai.count == len(pairs)
    datasets = pytest.importorskip("datasets")
    loaded = datasets.load_dataset("json", data_files=str(path), split="train")
    assert loaded.num_rows == len(pairs) and set(loaded.column_names) == {"prompt", "chosen", "rejected", "margin"}
    assert loaded[0]["chosen"] == rows[0]["chosen"]


def test_reasoning_end_to_end_offline(finetune_workspace: Workspace, tmp_path: Path) -> None:
    ws = finetune_workspace
    project_id = _project(ws, tmp_path, "reasoning")
    stats = ws.stats(project_id)
    assert stats["valid"] >= 5 and set(stats["validation_errors"]) <= {"duplicate"}
    rows = [json.loads(line) for line in ws.export(project_id, "openai", out=tmp_path / "r.jsonl").path.open()]
    examples = {example.question: example for example in ws.examples(project_id, is_valid=True)}
    assert len(rows) == len(examples)
    for row in rows:
        example = examples[row["messages"][0]["content"]]
        assert row["messages"][-1]["content"] == (
            f"<think>\n{example.metadata['reasoning']}\n</think>\n\n{example.answer}")


def test_trl_reads_a_dpo_row_as_conversational_preference_data() -> None:
    data_utils = pytest.importorskip("trl.data_utils")
    tiny_model = pytest.importorskip("kits.tiny_model")
    row = json.loads(_lines(DPOExporter(), _ranked_examples())[0])
    assert data_utils.is_conversational(row)
    tokenizer = tiny_model.build_tokenizer(tiny_model.PLAIN_CHAT_TEMPLATE)
    text = data_utils.maybe_apply_chat_template(row, tokenizer)
    assert text["prompt"].endswith("<|assistant|>\n") and "When do carried-over days expire?" in text["prompt"]
    assert text["chosen"].startswith("On 31 March.") and text["rejected"].startswith("Soon.")
