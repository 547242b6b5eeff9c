from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest
from finetune_core.curation.base import ValidationContext
from finetune_core.curation.near_duplicates import NearDuplicateValidator, jaccard, shingle_hashes
from finetune_core.domain import Example

Build = Callable[..., Example]

QUESTION = "How does the retention policy handle archived customer records?"


VOCABULARY = [f"word{i}" for i in range(3000)]


def words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(VOCABULARY) for _ in range(n)]


def edit_one_word(rng: random.Random, answer: list[str], position: int) -> list[str]:
    edited = list(answer)
    edited[position] = "replacement"
    return edited


def near_flags(examples: list[Example], context: ValidationContext) -> list[str]:
    return [example_id for example_id, code in NearDuplicateValidator().validate(examples, context)]


ANSWER_TEXT = (
    "Archived customer records are kept for seven years after the account closes and are then deleted "
    "in a monthly job run by the data team, unless a legal hold applies, in which case they stay "
    "until the hold is lifted."
)
ANSWER = ANSWER_TEXT.split()


def test_one_word_changed_in_a_forty_word_answer_is_a_near_duplicate(
    qa: Build, context: ValidationContext
) -> None:
    assert len(ANSWER) == 40
    edited = list(ANSWER)
    edited[20] = "quarterly"
    original, copy = qa(QUESTION, " ".join(ANSWER)), qa(QUESTION, " ".join(edited))
    assert near_flags([original, copy], context) == [copy.id]


def test_recall_over_many_single_word_edits(qa: Build, context: ValidationContext) -> None:
    """Every position, many answers: the exact-Jaccard check leaves LSH as the only source of misses."""
    rng = random.Random(7)
    pairs, caught = 0, 0
    for _ in range(25):
        answer = words(rng, 40)
        question = " ".join(words(rng, 10))
        for position in range(0, 40, 4):
            original = qa(question, " ".join(answer))
            copy = qa(question, " ".join(edit_one_word(rng, answer, position)))
            pairs += 1
            caught += near_flags([original, copy], context) == [copy.id]
    assert caught / pairs >= 0.97


def test_different_answers_to_the_same_question_are_not_near_duplicates(
    qa: Build, context: ValidationContext
) -> None:
    rng = random.Random(3)
    examples = [qa(QUESTION, " ".join(words(rng, 40))) for _ in range(50)]
    assert near_flags(examples, context) == []


def test_a_rephrased_answer_is_not_a_near_duplicate(qa: Build, context: ValidationContext) -> None:
    a = qa(QUESTION, " ".join(ANSWER))
    b = qa(QUESTION, "Records of archived customers are deleted seven years after closure by a monthly job, "
                     "except under a legal hold, which keeps them until it is lifted.")
    assert near_flags([a, b], context) == []


def test_exact_duplicates_are_left_to_the_duplicate_validator(qa: Build, context: ValidationContext) -> None:
    a = qa(QUESTION, " ".join(ANSWER))
    b = qa(QUESTION.upper(), " ".join(ANSWER))
    assert near_flags([a, b], context) == []


def test_only_the_later_example_of_a_pair_is_flagged_and_chains_do_not_cascade(
    qa: Build, context: ValidationContext
) -> None:
    rng = random.Random(11)
    base = words(rng, 60)
    step1 = list(base)
    step1[10:12] = ["alpha", "beta"]
    step2 = list(step1)
    step2[40:42] = ["delta", "epsilon"]
    a, b, c = (qa("q", " ".join(w)) for w in (base, step1, step2))
    ha, hb, hc = (shingle_hashes(" ".join(["q", *w])) for w in (base, step1, step2))
    assert jaccard(ha, hb) >= 0.85 and jaccard(hb, hc) >= 0.85 and jaccard(ha, hc) < 0.85
    # b is flagged against a; c is compared with the kept set {a} only
    assert near_flags([a, b, c], context) == [b.id]
    assert near_flags([c, b, a], context) == [b.id]


def test_threshold_comes_from_the_project_config(
    qa: Build, make_context: Callable[..., ValidationContext]
) -> None:
    rng = random.Random(5)
    answer = words(rng, 40)
    edited = list(answer)
    edited[5:10] = ["x1", "x2", "x3", "x4", "x5"]  # Jaccard about 0.6
    pair = [qa("q", " ".join(answer)), qa("q", " ".join(edited))]
    assert near_flags(pair, make_context(near_duplicate_threshold=0.85)) == []
    assert near_flags(pair, make_context(near_duplicate_threshold=0.5)) == [pair[1].id]


def test_deterministic(qa: Build, context: ValidationContext) -> None:
    rng = random.Random(2)
    examples = []
    for _ in range(200):
        answer = words(rng, 30)
        examples.append(qa("q", " ".join(answer)))
        if rng.random() < 0.3:
            examples.append(qa("q", " ".join(edit_one_word(rng, answer, rng.randrange(30)))))
    assert near_flags(examples, context) == near_flags(examples, context)
    assert near_flags(examples, context)


def test_shingles_of_short_texts() -> None:
    assert shingle_hashes("").size == 0
    assert shingle_hashes("one two").size == 1
    assert shingle_hashes("a b c d").size == 2
    assert jaccard(shingle_hashes("Hello, world!"), shingle_hashes("hello world")) == 1.0


@pytest.mark.timeout(60)
def test_scales_sub_quadratically(qa: Build, context: ValidationContext) -> None:
    """10,000 distinct examples would be 50M pairs; LSH keeps it to seconds."""
    rng = random.Random(1)
    examples = [qa(" ".join(words(rng, 8)), " ".join(words(rng, 40))) for _ in range(10_000)]
    started = time.perf_counter()
    assert near_flags(examples, context) == []
    assert time.perf_counter() - started < 30
