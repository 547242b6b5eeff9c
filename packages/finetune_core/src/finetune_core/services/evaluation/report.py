"""The evaluation written out: a markdown report (tables, then the questions side by side) and a PNG bar chart of
each metric's mean per model with its 95 % confidence interval (drawn with Pillow)."""

from __future__ import annotations

import io

from finetune_core.services.evaluation.results import EvaluationResult, Interval, SetResult

METRIC_LABELS = {"token_f1": "token F1", "rouge_l": "ROUGE-L", "exact_match": "key fact (exact match)",
                 "abstained": "abstained"}
COLOURS = ("#2f6db3", "#d9822b", "#3a9a5b", "#b23a48", "#7b5ea7", "#5b6770")
SIDE_BY_SIDE_CHARS = 600
CHART_FILE = "chart.png"
SET_TITLES = {"knowledge": "Knowledge set: new questions about the facts trained on",
              "held_out": "Held-out set: the eval split's questions, on documents never trained on",
              "abstention": "Abstention set: questions about invented entities"}


def _cell(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def _interval(value: Interval) -> str:
    return f"{value.mean:.3f} [{value.low:.3f}, {value.high:.3f}]"


def _set_tables(found: SetResult, first: str) -> list[str]:
    metrics = list(found.models[0].metrics) if found.models else []
    lines = [f"## {SET_TITLES.get(found.name, found.name)} ({len(found.questions)} questions)", "",
             "| model | " + " | ".join(METRIC_LABELS.get(name, name) for name in metrics) + " | failed |",
             "|---" * (len(metrics) + 2) + "|"]
    for scores in found.models:
        cells = [_interval(scores.metrics[name]) for name in metrics]
        lines.append(f"| `{_cell(scores.model)}` | " + " | ".join(cells) + f" | {scores.failed} |")
    comparisons = sorted({how for scores in found.models for how in scores.versus_first})
    if comparisons:
        lines += ["", f"Against `{_cell(first)}`, question by question (wins / ties / losses):", "",
                  "| model | " + " | ".join(comparisons) + " |", "|---" * (len(comparisons) + 1) + "|"]
        for scores in found.models[1:]:
            cells = [f"{r.wins} / {r.ties} / {r.losses}" for r in (scores.versus_first[how] for how in comparisons)]
            lines.append(f"| `{_cell(scores.model)}` | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _side_by_side(found: SetResult) -> list[str]:
    lines = [f"### {SET_TITLES.get(found.name, found.name).split(':')[0]}", ""]
    for number, item in enumerate(found.questions, start=1):
        lines.append(f"**{number}. {_cell(item.question)}**" + (f" _({_cell(item.source)})_" if item.source else ""))
        lines.append("")
        if item.reference is not None:
            lines.append(f"- reference: {_cell(item.reference)[:SIDE_BY_SIDE_CHARS]}"
                         + (f" (key fact: `{_cell(item.key_fact)}`)" if item.key_fact else ""))
        for model, answer in item.answers.items():
            scores = ", ".join(f"{name} {value:.2f}" for name, value in item.scores.get(model, {}).items())
            lines.append(f"- `{_cell(model)}`: {_cell(answer)[:SIDE_BY_SIDE_CHARS] or '(no answer)'} ({scores})")
        lines.append("")
    return lines


def markdown(result: EvaluationResult, project_name: str) -> str:
    first = result.models[0]
    origin = ("the chunks the training examples came from" if result.knowledge_source == "training_chunks"
              else "all the project's documents (no training example names its chunk)")
    lines = [f"# Evaluation of {', '.join(f'`{_cell(m)}`' for m in result.models)}", "",
             f"Project **{_cell(project_name)}**, {result.created_at:%Y-%m-%d %H:%M} UTC. "
             f"Knowledge questions, asked closed-book, about {origin}: {result.candidates} generated, "
             f"{result.dropped_near_duplicates} dropped as near-duplicates of training questions, "
             f"{result.dropped_off_training} as about passages no training example covers. Held-out questions are "
             "the eval split's own, on documents the training never saw: a fine-tune should not start inventing "
             "their answers. Abstention questions ask about invented entities: the right answer declines. Means "
             "with their 95 % confidence interval (bootstrap)"
             + (f"; pairwise judge `{_cell(result.judge)}`, both answer orders, a win only when both agree"
                if result.judge else "") + ".", "",
             f"![chart]({CHART_FILE})", ""]
    for found in result.sets:
        lines += _set_tables(found, first)
    lines += ["## Side by side", ""]
    for found in result.sets:
        lines += _side_by_side(found)
    return "\n".join(lines)


def png_chart(result: EvaluationResult) -> bytes:
    """Grouped bars as a PNG: one group per (set, metric), one bar per model, the 95 % interval as a whisker; 0 to 1."""
    from PIL import Image, ImageDraw, ImageFont  # imported here: only an evaluation draws

    groups = [(found, name) for found in result.sets for name in (found.models[0].metrics if found.models else {})]
    bar, gap, height, top, left, bottom = 22, 30, 260, 48, 56, 96
    group_width = bar * len(result.models) + gap
    width = max(left + group_width * len(groups) + 24, 480)
    total_height = top + height + bottom + 22 * len(result.models)
    image = Image.new("RGB", (width, total_height), "white")
    draw = ImageDraw.Draw(image)
    font, title = ImageFont.load_default(size=12), ImageFont.load_default(size=16)

    def y(value: float) -> float:
        return top + height * (1.0 - max(0.0, min(1.0, value)))

    draw.text((left, 14), "Evaluation: mean per model, 95 % confidence interval", fill="black", font=title)
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        draw.line([(left, y(tick)), (width - 12, y(tick))], fill="#dddddd")
        draw.text((8, y(tick) - 7), f"{tick:.2f}", fill="black", font=font)
    for index, (found, metric) in enumerate(groups):
        x0 = left + index * group_width + gap / 2
        for position, scores in enumerate(found.models):
            value = scores.metrics[metric]
            x = x0 + position * bar
            draw.rectangle([(x, y(value.mean)), (x + bar - 3, top + height)], fill=COLOURS[position % len(COLOURS)])
            middle = x + (bar - 3) / 2
            draw.line([(middle, y(value.high)), (middle, y(value.low))], fill="black", width=2)
            for end in (value.high, value.low):
                draw.line([(middle - 4, y(end)), (middle + 4, y(end))], fill="black", width=2)
        names = (found.name.replace("_", "-"), METRIC_LABELS.get(metric, metric).split(" (")[0])
        for line, text in enumerate(names):
            draw.text((x0, top + height + 8 + 15 * line), text, fill="black", font=font)
    for position, model in enumerate(result.models):
        legend_y = top + height + bottom - 40 + 22 * position
        draw.rectangle([(left, legend_y), (left + 14, legend_y + 14)], fill=COLOURS[position % len(COLOURS)])
        draw.text((left + 22, legend_y), model if len(model) <= 90 else model[:87] + "...", fill="black", font=font)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
