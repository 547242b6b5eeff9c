"""Near-duplicate detection: MinHash LSH proposes candidates, exact shingle Jaccard decides.

Each example's user and assistant text is normalised, split into words and
turned into word 3-shingles, hashed to 32 bits. A MinHash (128 permutations,
fixed seed) of those hashes goes into an LSH index tuned to a threshold below
the project's, so that few true pairs are missed; each candidate is then
checked with the exact Jaccard similarity of the two shingle sets, which keeps
the MinHash estimate's noise (about ±0.03 at 128 permutations) out of the
verdict. Work grows with the number of examples and candidates, not pairs.

Only examples this validator keeps are indexed: an example is flagged when it
is a near duplicate of an earlier kept one, so the kept set holds no
near-duplicate pair and a chain A~B~C does not flag C because of B alone. Exact
duplicates are left to the `duplicate` validator.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from datasketch import MinHash, MinHashLSH

from finetune_core.curation.base import ValidationContext
from finetune_core.curation.validators import comparable_text, dedupe_key, normalize_text
from finetune_core.domain import Example

_WORD = re.compile(r"\w+")
ShingleHashes = npt.NDArray[np.uint32]


def shingle_hashes(text: str, size: int = 3) -> ShingleHashes:
    """Sorted, unique 32-bit hashes of the word `size`-shingles of normalised `text`, punctuation ignored."""
    words = _WORD.findall(normalize_text(text))
    if not words:
        return np.empty(0, dtype=np.uint32)
    grams = (" ".join(words[i : i + size]) for i in range(max(1, len(words) - size + 1)))
    values = [
        int.from_bytes(hashlib.blake2b(g.encode("utf-8"), digest_size=4).digest(), "little") for g in grams
    ]
    return np.unique(np.array(values, dtype=np.uint32))


def jaccard(a: ShingleHashes, b: ShingleHashes) -> float:
    shared = np.intersect1d(a, b, assume_unique=True).size
    union = a.size + b.size - shared
    return shared / union if union else 0.0


def _identity(value: Any) -> Any:
    return value


@functools.lru_cache(maxsize=32)
def lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) that datasketch finds optimal for `threshold`; cached, the search takes ~20 ms."""
    probe = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return int(probe.b), int(probe.r)


class NearDuplicateValidator:
    name = "near_duplicate"
    code = "near_duplicate"

    def __init__(
        self, *, num_perm: int = 128, seed: int = 1, shingle_size: int = 3, candidate_margin: float = 0.15
    ) -> None:
        self.num_perm = num_perm
        self.seed = seed
        self.shingle_size = shingle_size
        self.candidate_margin = candidate_margin

    def validate(self, examples: Sequence[Example], context: ValidationContext) -> Iterator[tuple[str, str]]:
        threshold = context.config.near_duplicate_threshold
        bands = lsh_bands(round(max(0.05, threshold - self.candidate_margin), 4), self.num_perm)
        lsh = MinHashLSH(num_perm=self.num_perm, params=bands)
        # the permutations are drawn once; copies share them
        template = MinHash(num_perm=self.num_perm, seed=self.seed, hashfunc=_identity)
        kept: list[ShingleHashes] = []
        seen_keys: set[bytes] = set()
        for example in examples:
            key = dedupe_key(example)
            if key is None or key in seen_keys:
                continue
            seen_keys.add(key)
            text = comparable_text(example)  # a preference example: its question and both candidates
            hashes = shingle_hashes(text, self.shingle_size)
            if hashes.size == 0:
                continue
            minhash = template.copy()
            minhash.update_batch(hashes.tolist())
            if any(jaccard(hashes, kept[i]) >= threshold for i in lsh.query(minhash)):
                yield example.id, self.code
                continue
            lsh.insert(len(kept), minhash, check_duplication=False)
            kept.append(hashes)
