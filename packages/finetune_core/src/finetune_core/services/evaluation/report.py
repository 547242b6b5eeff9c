"""The evaluation written out: a markdown report (tables, then the questions side by side) and an SVG bar chart of
each metric's mean per model with its 95 % confidence interval (drawn by hand: the core has no plotting library)."""

from __future__ import annotations

from html import escape

from finetune_core.services.evaluation.results import EvaluationResult, Interval, SetResult

METRIC_LABELS = {"token_f1": "token F1", "rouge_l": "ROUGE-L", "exact_match": "key fact (exact match)",
                 "abstained": "abstained"}
COLOURS = ("#2f6db3", "#d9822b", "#3a9a5b", "#b23a48", "#7b5ea7", "#5b6770")
SIDE_BY_SIDE_CHARS = 600


def _cell(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def _interval(value: Interval) -> str:
    return f"{value.mean:.3f} [{value.low:.3f}, {value.high:.3f}]"


def _set_tables(found: SetResult, first: str) -> list[str]:
    metrics = list(found.models[0].metrics) if found.models else []
    lines = [f"## {found.name.capitalize()} set ({len(found.questions)} questions)", "",
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
    lines = [f"### {found.name.capitalize()} questions", ""]
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
    origin = ("the eval split's documents (never trained on)" if result.knowledge_source == "eval_split"
              else "all the project's documents (the project has no eval split)")
    lines = [f"# Evaluation of {', '.join(f'`{_cell(m)}`' for m in result.models)}", "",
             f"Project **{_cell(project_name)}**, {result.created_at:%Y-%m-%d %H:%M} UTC. "
             f"Knowledge questions about {origin}: {result.candidates} generated, "
             f"{result.dropped_near_duplicates} dropped as near-duplicates of training questions. "
             "Abstention questions ask about invented entities: the right answer declines. Means with their 95 % "
             "confidence interval (bootstrap)" + (f"; pairwise judge `{_cell(result.judge)}`, both answer orders, a "
                                                   "win only when both agree" if result.judge else "") + ".", "",
             "![chart](chart.svg)", ""]
    for found in result.sets:
        lines += _set_tables(found, first)
    lines += ["## Side by side", ""]
    for found in result.sets:
        lines += _side_by_side(found)
    return "\n".join(lines)


def svg_chart(result: EvaluationResult) -> str:
    """Grouped bars: one group per (set, metric), one bar per model, the interval as a whisker; 0 to 1."""
    groups = [(found.name, name) for found in result.sets for name in (found.models[0].metrics if found.models else {})]
    models = result.models
    bar, gap, height, top, left, bottom = 18, 26, 220, 40, 40, 70
    group_width = bar * len(models) + gap
    width = left + group_width * len(groups) + 20
    total_height = top + height + bottom + 20 * len(models)

    def y(value: float) -> float:
        return top + height * (1.0 - max(0.0, min(1.0, value)))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_height}" '
             f'font-family="sans-serif" font-size="11">',
             f'<text x="{left}" y="20" font-size="14">Evaluation (mean, 95 % CI)</text>']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#ddd"/>'
                     f'<text x="4" y="{y(tick) + 4:.1f}">{tick:.2f}</text>')
    for index, (set_name, metric) in enumerate(groups):
        x0 = left + index * group_width + gap / 2
        found = next(item for item in result.sets if item.name == set_name)
        for position, scores in enumerate(found.models):
            value = scores.metrics[metric]
            x = x0 + position * bar
            colour = COLOURS[position % len(COLOURS)]
            parts.append(f'<rect x="{x:.1f}" y="{y(value.mean):.1f}" width="{bar - 2}" '
                         f'height="{top + height - y(value.mean):.1f}" fill="{colour}"/>')
            middle = x + (bar - 2) / 2
            parts.append(f'<line x1="{middle:.1f}" x2="{middle:.1f}" y1="{y(value.high):.1f}" y2="{y(value.low):.1f}" '
                         'stroke="#000"/>')
        label = f"{set_name}: {METRIC_LABELS.get(metric, metric)}"
        parts.append(f'<text x="{x0:.1f}" y="{top + height + 14}" transform="rotate(20 {x0:.1f},{top + height + 14})">'
                     f'{escape(label)}</text>')
    for position, model in enumerate(models):
        legend_y = top + height + bottom + 20 * position
        parts.append(f'<rect x="{left}" y="{legend_y - 10}" width="12" height="12" '
                     f'fill="{COLOURS[position % len(COLOURS)]}"/><text x="{left + 18}" y="{legend_y}">'
                     f'{escape(model)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
