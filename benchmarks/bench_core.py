"""Core benchmarks, printed as ratios measured in one run.

1. ingest + chunk throughput over the tokenizer's own encode speed on the same text (the bound);
2. PDF pages per second through the PDF loader;
3. peak memory of exporting N examples (N = 10k, 100k, 1M by default), each export in a fresh
   process so its peak RSS is its own: flat as N grows, target under 300 MB at 1M.

    python benchmarks/bench_core.py [--examples 10000,100000,1000000] [--text-mb 4]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = """
sourdough starter flour water salt dough gluten fermentation oven crust crumb hydration levain
temperature proof shape bake loaf yeast bacteria acidity rye wheat knead fold rest bowl steam la
pâte le levain farine eau sel cuisson four croûte mie température façonnage
""".split()  # noqa: SIM905 - one readable block of words


def make_text(megabytes: float, seed: int = 7) -> str:
    """Markdown with headings, paragraphs and sentences of varied length."""
    rng = random.Random(seed)
    out = io.StringIO()
    section = 0
    while out.tell() < megabytes * 1_000_000:
        section += 1
        out.write(f"## Section {section}: {rng.choice(WORDS).title()}\n\n")
        for _ in range(rng.randint(2, 6)):
            sentences = []
            for _ in range(rng.randint(2, 7)):
                words = [rng.choice(WORDS) for _ in range(rng.randint(6, 24))]
                sentences.append(" ".join(words).capitalize() + rng.choice([".", ".", ".", "?", "!"]))
            out.write(" ".join(sentences) + "\n\n")
    return out.getvalue()


def best_of(runs: int, func: object) -> float:
    assert callable(func)
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        timings.append(time.perf_counter() - start)
    return min(timings)


def bench_ingest_chunk(text_mb: float) -> None:
    from finetune_core.chunking.tokenizers import get_tokenizer
    from finetune_core.plugins import registries
    from finetune_core.sources.base import LoadOptions
    from finetune_core.sources.sniff import detect_mime

    text = make_text(text_mb)
    data = text.encode()
    tokenizer = get_tokenizer("o200k_base")
    loaders = registries().sources
    chunker = registries().chunkers.get("token")
    markdown = next(item for item in loaders if getattr(item, "mime_types", ()) == ("text/markdown",))

    def encode_only() -> None:
        tokenizer.encode(text)

    def ingest_and_chunk() -> None:
        detect_mime(data, "bench.md")
        document = markdown.load(data, LoadOptions(filename="bench.md"))
        chunker.chunk(document, tokenizer=tokenizer, size=512, overlap=50)

    encode_s = best_of(3, encode_only)
    pipeline_s = best_of(3, ingest_and_chunk)
    mb = len(data) / 1e6
    print(f"[ingest+chunk] {mb:.1f} MB markdown, o200k_base, 512/50 tokens")
    print(f"  tokenizer encode alone : {mb / encode_s:7.2f} MB/s (the bound)")
    print(f"  sniff+load+chunk       : {mb / pipeline_s:7.2f} MB/s")
    print(f"  ratio pipeline/bound   : {encode_s / pipeline_s:7.3f}")


def bench_pdf(pages: int) -> None:
    from finetune_core.plugins import registries
    from finetune_core.sources.base import LoadOptions
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    text = make_text(pages * 0.0025, seed=3).encode("latin-1", "replace").decode("latin-1")
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    per_page = max(1, len(paragraphs) // pages)
    for page in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 5, "\n\n".join(paragraphs[page * per_page : (page + 1) * per_page]) or "empty page")
    data = bytes(pdf.output())
    loader = registries().sources.get("pdf")
    seconds = best_of(2, lambda: loader.load(data, LoadOptions(filename="bench.pdf")))
    print(f"[pdf] {pages} pages, {len(data) / 1e6:.2f} MB: {pages / seconds:.1f} pages/s")


# VmHWM, not ru_maxrss: after fork+exec, ru_maxrss can report the parent's peak.
EXPORT_CHILD = """
import json, sys, time
from finetune_core import Workspace
from finetune_core.jobs import InlineRunner
ws = Workspace.open(sys.argv[1], runner=InlineRunner())
start = time.perf_counter()
result = ws.export("bench", "openai", out=sys.argv[2])
print(json.dumps({"count": result.count, "bytes": result.bytes, "seconds": time.perf_counter() - start,
                  "peak_rss_mb": int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024}))
"""


def fill_workspace(root: Path, count: int) -> None:
    """A workspace with one project of `count` valid examples."""
    from finetune_core import Project, Workspace
    from finetune_core.jobs import InlineRunner

    with Workspace.open(root, runner=InlineRunner()) as ws, ws.unit_of_work() as uow:
        project = uow.projects.add(Project(name="bench"))
    fill_project(root, project.id, count)


def fill_project(root: Path, project_id: str, count: int, *, eval_every: int = 0) -> None:
    """Insert `count` valid examples into the project straight through the repository, in batches
    (every `eval_every`-th in the eval split when given, the others in train)."""
    from finetune_core import Example, Message, Workspace
    from finetune_core.jobs import InlineRunner

    with Workspace.open(root, runner=InlineRunner()) as ws:
        batch = 20_000
        for start in range(0, count, batch):
            rows = [
                Example(project_id=project_id, request_key=f"gen:bench:{i}", position=0,
                        split="eval" if eval_every and i % eval_every == 0 else "train",
                        messages=[Message(role="user", content=f"Question number {i} about sourdough hydration?"),
                                  Message(role="assistant", content=f"Answer {i}: keep the dough at 75 % "
                                          "hydration and let it rest for an hour before shaping.")],
                        token_count=40)
                for i in range(start, min(count, start + batch))
            ]
            with ws.unit_of_work() as uow:
                uow.examples.add(rows)


def bench_export(counts: list[int]) -> None:
    print("[export] openai JSONL, each in a fresh process (peak RSS of that process)")
    for count in counts:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "ws"
            start = time.perf_counter()
            fill_workspace(root, count)
            fill_s = time.perf_counter() - start
            out = subprocess.run([sys.executable, "-c", EXPORT_CHILD, str(root), str(Path(tmp) / "out.jsonl")],
                                 check=True, capture_output=True, text=True, env={**os.environ})
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"  {count:>9,} examples: peak {result['peak_rss_mb']:6.1f} MB, "
                  f"{result['count'] / result['seconds']:9.0f} examples/s, {result['bytes'] / 1e6:7.1f} MB written "
                  f"(fill {fill_s:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text-mb", type=float, default=4.0)
    parser.add_argument("--pdf-pages", type=int, default=200)
    parser.add_argument("--examples", default="10000,100000,1000000")
    args = parser.parse_args()
    bench_ingest_chunk(args.text_mb)
    bench_pdf(args.pdf_pages)
    bench_export([int(n) for n in args.examples.split(",") if n])


if __name__ == "__main__":
    main()
