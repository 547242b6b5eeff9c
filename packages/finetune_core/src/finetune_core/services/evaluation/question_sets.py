"""The three question sets of an evaluation.

- Knowledge: new questions about the facts the training examples teach, asked closed-book. They are asked of the
  project's generator in a round of their own (request keys `eval:<chunk id>:<round>`, purpose `evaluation`, kept in
  the result, never stored as examples) over the chunks the training examples came from (every chunk where no
  example names one). A question that is a near-duplicate of a training example's question (exact normalized text,
  or MinHash LSH candidates at exact shingle Jaccard ≥ the project's `near_duplicate_threshold`, as the
  `near_duplicate` validator decides) is dropped and counted; so is one whose evidence no training example's
  evidence holds (a fact of the document the training never showed), where both have evidence. More rounds are
  asked while too few are left.
- Held out: the eval split's own examples. The split is by source by default, so these are questions on documents
  the training never saw: they show what the fine-tune did to answers it cannot know (it should not invent them).
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
TRAIN_SPLIT = "train"
MAX_ROUNDS = 4  # rounds asked of each chunk while too few questions survive the disjointness check
MAX_PER_CHUNK = 5
NUM_PERM = 128
# training_chunks: asked about the chunks the training examples came from; all_chunks: about every chunk (no example
# names its chunk)
KnowledgeSource = Literal["training_chunks", "all_chunks"]


@dataclass(frozen=True)
class Question:
    question: str
    reference: str | None = None  # None: the abstention set's, which has no answer
    source: str | None = None
    evidence: str | None = None  # the passage the reference comes from, where the generator gives it


@dataclass
class KnowledgeSet:
    questions: list[Question]
    source: KnowledgeSource
    candidates: int = 0
    dropped: list[str] = field(default_factory=list)  # the near-duplicates of training questions, dropped
    off_training: int = 0  # candidates dropped because no training example's evidence holds theirs


def _flat(text: str) -> str:
    return " ".join(text.split()).lower()


class TrainingQuestions:
    """The training examples' questions, indexed to find a near-duplicate of a new one, and their evidence."""

    def __init__(self, questions: list[str], threshold: float, evidence: list[str] | None = None) -> None:
        # imported here: datasketch brings redis and cryptography, which a process that never evaluates does without
        from datasketch import MinHash, MinHashLSH

        from finetune_core.curation.near_duplicates import lsh_bands, shingle_hashes

        self.threshold = threshold
        self.evidence = [_flat(text) for text in evidence or [] if text.strip()]
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

    def taught(self, evidence: str | None) -> bool:
        """Whether a training example's evidence holds `evidence` (True where either side has none to compare)."""
        if not evidence or not evidence.strip() or not self.evidence:
            return True
        wanted = _flat(evidence)
        return any(wanted in held for held in self.evidence)


def knowledge_material(workspace: WorkspacePort, project_id: str) -> tuple[list[Chunk], KnowledgeSource,
                                                                           TrainingQuestions]:
    """The chunks to ask about (those the training examples came from, else all), and the training questions and
    evidence to check against; InvalidInputError when the project has no chunk."""
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
        chunks, _ = uow.chunks.search(project.id, limit=None)
        trained_chunks: set[str] = set()
        training: list[str] = []
        evidence: list[str] = []
        held_out = 0
        for example in uow.examples.iterate(project.id):
            held_out += example.split == EVAL_SPLIT
            if example.split in (EVAL_SPLIT, PREVIEW_SPLIT) or not example.messages:
                continue
            training.append(example.question)  # an invalid one too: a question seen is not asked again
            if example.split == TRAIN_SPLIT and example.is_valid:
                evidence.append(example.evidence or "")
                if example.chunk_id:
                    trained_chunks.add(example.chunk_id)
    if not chunks:
        raise InvalidInputError("the project has no chunks to ask questions about: add sources, load and chunk them "
                                "(and generate a dataset, whose eval split then provides the questions)",
                                project_id=project.id)
    if not training and not held_out:
        raise InvalidInputError("the project has no dataset to evaluate on: generate one first (`finetune run "
                                "--project P`, or POST /api/projects/{id}/dataset/generate): its training examples "
                                "give the knowledge questions, its eval split the held-out ones",
                                project_id=project.id)
    known = TrainingQuestions(training, project.config.near_duplicate_threshold, evidence)
    taught = [chunk for chunk in chunks if chunk.id in trained_chunks]
    if taught:
        return taught, "training_chunks", known
    return chunks, "all_chunks", known


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
        n_examples=per_chunk, system_prompt=project.config.system_prompt, purpose="evaluation",
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
                found.append(Question(user, answer, sources.get(result.key), draft.evidence))
    return [question for request in requests for question in by_key.get(request.key, [])]


class _Collect:
    """Rounds of requests until `count` questions survive the disjointness check (or MAX_ROUNDS)."""

    def __init__(self, project: Project, chunks: list[Chunk], training: TrainingQuestions, found: KnowledgeSet,
                 count: int, context: JobContext | None) -> None:
        self.project, self.chunks, self.training, self.found = project, chunks, training, found
        self.count, self.context = count, context
        self.per_chunk = max(1, min(MAX_PER_CHUNK, math.ceil(2 * count / len(chunks))))
        self.kept: dict[str, Question] = {}
        self.refused: set[str] = set()

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
        if key in self.kept or key in self.refused:
            return
        self.refused.add(key)  # until kept below: the same question again is judged once
        if self.training.near(question.question):
            self.found.dropped.append(question.question)
            return
        if not self.training.taught(question.evidence):
            self.found.off_training += 1
            return
        self.refused.discard(key)
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
    found.questions = questions
    return found


def held_out_set(workspace: WorkspacePort, project_id: str, count: int) -> list[Question]:
    """Up to `count` valid examples of the eval split as questions with their answers (a seeded choice): held out of
    the training by the split, so disjoint from it by construction, and by source unless the project splits
    otherwise."""
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
        held = [example for example in uow.examples.iterate(project.id, split=EVAL_SPLIT)
                if example.is_valid and example.messages]
        names = {source.id: source.name for source in uow.sources.search(project.id, limit=None)[0]}
    rng = random.Random(project.config.seed)
    chosen = rng.sample(held, count) if len(held) > count else held
    return [Question(example.question, reference=example.answer, source=names.get(example.source_id or "")
                     or example.source_id, evidence=example.evidence) for example in chosen]


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
