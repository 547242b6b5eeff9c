"""The two question sets of an evaluation.

- Knowledge: questions about facts of the documents, asked of the project's generator in a round of their own
  (request keys `eval:<chunk id>:<round>`, kept in the result, never stored as examples), over the chunks of the
  eval split's sources when the split has examples (documents the training never saw), else over every chunk.
  Each question that is a near-duplicate of a training example's question (MinHash LSH candidates, exact shingle
  Jaccard at the project's `near_duplicate_threshold`, as the `near_duplicate` validator decides) is dropped and
  counted; more rounds are asked while too few are left.
- Abstention: questions about invented entities (names made of syllables and checked absent from the documents),
  which a good model declines to answer.
"""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from finetune_core.domain import PREVIEW_SPLIT, Chunk, Project
from finetune_core.errors import InvalidInputError
from finetune_core.generation.base import GenerationRequest, Generator, GeneratorSettings
from finetune_core.generation.language import detect_language
from finetune_core.services import keys as keys_service
from finetune_core.services.evaluation.scoring import normalize
from finetune_core.services.model_access import Origin, check_model_url

if TYPE_CHECKING:
    from datasketch import MinHash

    from finetune_core.curation.near_duplicates import ShingleHashes
    from finetune_core.jobs.context import JobContext
    from finetune_core.ports import WorkspacePort

EVAL_PREFIX = "eval:"
EVAL_SPLIT = "eval"
MAX_ROUNDS = 4  # rounds asked of each chunk while too few questions survive the disjointness check
MAX_PER_CHUNK = 5
NUM_PERM = 128
# eval_split: asked anew about the held-out sources' chunks; all_chunks: about every chunk; held_out_examples: the
# eval split's own examples, where every question asked anew was a near-duplicate of a training one (a generator
# that words its questions the same way each time, such as the extractive one)
KnowledgeSource = Literal["eval_split", "all_chunks", "held_out_examples"]


@dataclass(frozen=True)
class Question:
    question: str
    reference: str | None = None  # None: the abstention set's, which has no answer
    source: str | None = None


@dataclass
class KnowledgeSet:
    questions: list[Question]
    source: KnowledgeSource
    candidates: int = 0
    dropped: list[str] = field(default_factory=list)  # the near-duplicates of training questions, dropped


class TrainingQuestions:
    """The training examples' questions, indexed to find a near-duplicate of a new one."""

    def __init__(self, questions: list[str], threshold: float) -> None:
        # imported here: datasketch brings redis and cryptography, which a process that never evaluates does without
        from datasketch import MinHash, MinHashLSH

        from finetune_core.curation.near_duplicates import lsh_bands, shingle_hashes

        self.threshold = threshold
        self.exact = {normalize(question) for question in questions}
        self.lsh = MinHashLSH(num_perm=NUM_PERM, params=lsh_bands(round(max(0.05, threshold - 0.15), 4), NUM_PERM))
        self.template = MinHash(num_perm=NUM_PERM, seed=1, hashfunc=lambda value: value)
        self.hashes: list[ShingleHashes] = []
        for question in questions:
            hashes = shingle_hashes(question)
            if hashes.size:
                self.lsh.insert(len(self.hashes), self._minhash(hashes), check_duplication=False)
                self.hashes.append(hashes)

    def _minhash(self, hashes: ShingleHashes) -> MinHash:
        minhash = self.template.copy()
        minhash.update_batch(hashes.tolist())
        return minhash

    def near(self, question: str) -> bool:
        from finetune_core.curation.near_duplicates import jaccard, shingle_hashes

        if normalize(question) in self.exact:
            return True
        hashes = shingle_hashes(question)
        if not hashes.size:
            return False
        return any(jaccard(hashes, self.hashes[i]) >= self.threshold for i in self.lsh.query(self._minhash(hashes)))


def knowledge_material(workspace: WorkspacePort, project_id: str) -> tuple[list[Chunk], KnowledgeSource,
                                                                           TrainingQuestions]:
    """The chunks to ask about (the eval split's sources', else all), and the training questions to avoid;
    InvalidInputError when the project has no chunk."""
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
        chunks, _ = uow.chunks.search(project.id, limit=None)
        eval_sources: set[str] = set()
        training: list[str] = []
        for example in uow.examples.iterate(project.id):
            if example.split == EVAL_SPLIT:
                eval_sources.add(example.source_id or "")
            elif example.split != PREVIEW_SPLIT and example.messages:
                training.append(example.question)
    if not chunks:
        raise InvalidInputError("the project has no chunks to ask questions about: add sources, load and chunk them "
                                "(and generate a dataset, whose eval split then provides the questions)",
                                project_id=project.id)
    held_out = [chunk for chunk in chunks if chunk.source_id in eval_sources]
    if held_out:
        return held_out, "eval_split", TrainingQuestions(training, project.config.near_duplicate_threshold)
    return chunks, "all_chunks", TrainingQuestions(training, project.config.near_duplicate_threshold)


def project_generator(workspace: WorkspacePort, project: Project, generator: str | None,
                      settings: dict[str, Any] | None, origin: Origin) -> Generator:
    """The project's generator (or the one named), with its settings and the owner's stored key."""
    values = {"model": project.config.model, **{k: v for k, v in (settings or {}).items() if v is not None}}
    generator_settings = GeneratorSettings.model_validate(values)
    if generator_settings.base_url:
        check_model_url(workspace.settings, generator_settings.base_url, origin)
    generator_type: type[Generator] = workspace.plugins.generators.get(generator or project.config.generator)
    if generator_settings.api_key is None and generator_type.key_provider:
        generator_settings.api_key = keys_service.stored_key(workspace, generator_type.key_provider,
                                                             owner_id=project.owner_id)
    return generator_type(generator_settings)


def _requests(project: Project, chunks: list[Chunk], round_: int, per_chunk: int) -> list[GenerationRequest]:
    return [GenerationRequest(
        key=f"{EVAL_PREFIX}{chunk.id}:{round_}", chunk=chunk, round=round_, task_type=project.task_type,
        language=project.config.language or str(chunk.metadata.get("language") or detect_language(chunk.content)),
        n_examples=per_chunk, system_prompt=project.config.system_prompt,
        source_name=str(chunk.metadata.get("source_name") or "")) for chunk in chunks]


async def _ask(generator: Generator, requests: list[GenerationRequest]) -> list[Question]:
    """The (first question, first answer) of each draft, in the requests' order; failed requests give none."""
    by_key: dict[str, list[Question]] = {}
    sources = {request.key: request.source_name or None for request in requests}
    async for result in generator.generate(requests):
        found = by_key.setdefault(result.key, [])
        for draft in result.drafts if result.error is None else []:
            user = next((m.content for m in draft.messages if m.role == "user"), "").strip()
            answer = next((m.content for m in draft.messages if m.role == "assistant"), "").strip()
            if user and answer and not draft.errors:
                found.append(Question(user, answer, sources.get(result.key)))
    return [question for request in requests for question in by_key.get(request.key, [])]


class _Collect:
    """Rounds of requests until `count` questions survive the disjointness check (or MAX_ROUNDS)."""

    def __init__(self, project: Project, chunks: list[Chunk], training: TrainingQuestions, found: KnowledgeSet,
                 count: int, context: JobContext | None) -> None:
        self.project, self.chunks, self.training, self.found = project, chunks, training, found
        self.count, self.context = count, context
        self.per_chunk = max(1, min(MAX_PER_CHUNK, math.ceil(2 * count / len(chunks))))
        self.kept: dict[str, Question] = {}

    async def run(self, generator: Generator) -> None:
        try:
            for round_ in range(MAX_ROUNDS):
                if self.context is not None:
                    self.context.progress(len(self.kept), self.count,
                                          f"{len(self.kept)} knowledge questions (round {round_ + 1})")
                asked = await _ask(generator, _requests(self.project, self.chunks, round_, self.per_chunk))
                for question in asked:
                    self.keep(question)
                if len(self.kept) >= self.count or not asked:
                    return
        finally:
            await generator.aclose()

    def keep(self, question: Question) -> None:
        self.found.candidates += 1
        key = normalize(question.question)
        if key in self.kept:
            return
        if self.training.near(question.question):
            self.found.dropped.append(question.question)
            return
        self.kept[key] = question


def knowledge_set(workspace: WorkspacePort, project_id: str, count: int, *, generator: str | None = None,
                  settings: dict[str, Any] | None = None, origin: Origin = Origin.LOCAL,
                  context: JobContext | None = None) -> KnowledgeSet:
    """Up to `count` knowledge questions, none a near-duplicate of a training question (see the module doc);
    the same project and generator give the same set (a seeded choice among the candidates)."""
    chunks, source, training = knowledge_material(workspace, project_id)
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
    rng = random.Random(project.config.seed)
    if len(chunks) > 2 * count:
        chunks = sorted(rng.sample(chunks, 2 * count), key=lambda chunk: (chunk.source_id, chunk.chunk_index))
    found = KnowledgeSet([], source)
    collect = _Collect(project, chunks, training, found, count, context)
    work = collect.run(project_generator(workspace, project, generator, settings, origin))
    asyncio.run(context.cancellable(work) if context is not None else work)
    questions = list(collect.kept.values())
    if len(questions) > count:
        chosen = set(rng.sample(range(len(questions)), count))
        questions = [question for index, question in enumerate(questions) if index in chosen]
    found.questions = questions or _held_out_examples(workspace, project_id, count, rng)
    if not questions and found.questions:
        found.source = "held_out_examples"
    return found


def _held_out_examples(workspace: WorkspacePort, project_id: str, count: int, rng: random.Random) -> list[Question]:
    """Up to `count` valid examples of the eval split as questions with their answers: held out of the training by
    the split, so disjoint from it by construction."""
    with workspace.unit_of_work() as uow:
        held = [example for example in uow.examples.iterate(project_id, split=EVAL_SPLIT)
                if example.is_valid and example.messages]
    chosen = rng.sample(held, count) if len(held) > count else held
    return [Question(example.question, reference=example.answer, source=example.source_id) for example in chosen]


_TEMPLATES = (
    "In what year did the {name} bakery open?",
    "Who founded the {name} Institute?",
    "How many people live in the town of {name}?",
    "What is the annual budget of {name} Logistics?",
    "Who won the {name} Prize in 2019?",
    "What colour is the logo of {name} Football Club?",
    "What is the phone number of the {name} library?",
    "How tall is the {name} tower?",
)
_SYLLABLES = ("bra", "vel", "mor", "thi", "qua", "dex", "lun", "sor", "pim", "gra", "zel", "nob", "tor", "vix")


def abstention_set(count: int, *, seed: int, documents: str) -> list[Question]:
    """`count` questions about invented entities, none of whose names occurs in `documents` (lower case)."""
    rng = random.Random(seed)
    questions: list[Question] = []
    while len(questions) < count:
        name = "".join(rng.choice(_SYLLABLES) for _ in range(3)).capitalize()
        if name.lower() in documents:
            continue
        template = _TEMPLATES[len(questions) % len(_TEMPLATES)]
        questions.append(Question(template.format(name=name)))
    return questions


def documents_text(workspace: WorkspacePort, project_id: str) -> str:
    """The project's chunks, lower case, to check an invented name against."""
    with workspace.unit_of_work() as uow:
        chunks, _ = uow.chunks.search(project_id, limit=None)
    return "\n".join(chunk.content.lower() for chunk in chunks)
