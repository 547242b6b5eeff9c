"""Prompts that LLM generator plugins send: one system and one user message per request.

Templates exist in English and French; any other language gets the English template with an
instruction to write in the passage's language. The model answers {"examples": [...]} whose
items carry, per task type, the fields shown in `SCHEMAS`; `parsing.parse_examples` reads them.

Summarization: the model writes only the summary; the user turn of the stored example is built
by us with `summary_user_content` ("Summarize the following passage." + blank line + passage),
so every summary example has the same, predictable instruction/input shape.

Reasoning: the model writes the question, its worked reasoning and the final answer apart; the answer becomes
the assistant turn and the reasoning `metadata["reasoning"]` (domain/task_fields.py).
Preference: the model writes one question and two genuinely different answers of different quality, in an
order of its choosing; they become `metadata["candidates"]`, which the judge (or the offline grounding score)
ranks into chosen and rejected afterwards: the order the model gave them in means nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from finetune_core.domain import Message, TaskType
from finetune_core.generation.base import GenerationRequest

SummaryStyle = Literal["default", "one_sentence", "key_points"]

SCHEMAS: dict[TaskType, str] = {
    TaskType.QA: '{"examples": [{"question": "...", "answer": "...", "evidence": "..."}]}',
    TaskType.INSTRUCTION: (
        '{"examples": [{"instruction": "...", "input": "", "output": "...", "evidence": "..."}]}'
    ),
    TaskType.CONVERSATION: (
        '{"examples": [{"messages": [{"role": "user", "content": "..."}, '
        '{"role": "assistant", "content": "..."}], "evidence": "..."}]}'
    ),
    TaskType.SUMMARIZATION: '{"examples": [{"summary": "...", "evidence": "..."}]}',
    TaskType.REASONING: '{"examples": [{"question": "...", "reasoning": "...", "answer": "...", "evidence": "..."}]}',
    TaskType.PREFERENCE: (
        '{"examples": [{"question": "...", "answer_a": "...", "answer_b": "...", "evidence": "..."}]}'
    ),
}

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English", "fr": "French", "es": "Spanish", "de": "German", "it": "Italian",
    "pt": "Portuguese", "nl": "Dutch", "pl": "Polish", "sv": "Swedish", "ja": "Japanese",
    "zh": "Chinese", "ko": "Korean", "ru": "Russian", "ar": "Arabic", "tr": "Turkish",
}

_SUMMARY_INSTRUCTIONS: dict[str, dict[SummaryStyle, str]] = {
    "en": {
        "default": "Summarize the following passage.",
        "one_sentence": "Summarize the following passage in one sentence.",
        "key_points": "List the key points of the following passage.",
    },
    "fr": {
        "default": "Résumez le passage suivant.",
        "one_sentence": "Résumez le passage suivant en une phrase.",
        "key_points": "Énumérez les points clés du passage suivant.",
    },
    "es": {
        "default": "Resume el siguiente texto.",
        "one_sentence": "Resume el siguiente texto en una frase.",
        "key_points": "Enumera los puntos clave del siguiente texto.",
    },
    "de": {
        "default": "Fasse den folgenden Text zusammen.",
        "one_sentence": "Fasse den folgenden Text in einem Satz zusammen.",
        "key_points": "Nenne die wichtigsten Punkte des folgenden Textes.",
    },
}


@dataclass(frozen=True)
class _Texts:
    system: str
    source: str
    section: str
    passage: str
    nouns: dict[TaskType, tuple[str, str]]  # singular, plural
    tasks: dict[TaskType, str]
    evidence: str
    round: str
    language: str
    role: str
    output: str


_EN = _Texts(
    system=(
        "You write high-quality training examples for fine-tuning a language model. "
        "Use only facts stated in the passage you are given; never invent anything. "
        "Reply with one JSON object and nothing else: no prose, no code fences."
    ),
    source="Source: {name}",
    section="Section: {heading}",
    passage="Passage:",
    nouns={
        TaskType.QA: ("question-answer pair", "question-answer pairs"),
        TaskType.INSTRUCTION: ("instruction-response example", "instruction-response examples"),
        TaskType.CONVERSATION: ("conversation", "conversations"),
        TaskType.SUMMARIZATION: ("summary", "summaries"),
        TaskType.REASONING: ("question with its reasoning and answer", "questions with their reasoning and answer"),
        TaskType.PREFERENCE: ("question with two answers", "questions with two answers each"),
    },
    tasks={
        TaskType.QA: (
            "Write exactly {count} about the passage.\n"
            "- Each question must make sense on its own, without the passage: name the subject, and never "
            'write "the passage", "the text" or "the author".\n'
            "- Each answer is complete, correct according to the passage, and written in full sentences."
        ),
        TaskType.INSTRUCTION: (
            "Write exactly {count} based on the passage.\n"
            "- Vary the kinds of instruction: explain, list, compare, define, apply to a case, rewrite.\n"
            '- "input" holds the text the instruction works on when it needs one (for example a sentence '
            "to rewrite); otherwise it is an empty string.\n"
            '- "output" is the ideal response, complete and correct according to the passage.'
        ),
        TaskType.CONVERSATION: (
            "Write exactly {count} between a user and an assistant about the passage.\n"
            '- "messages" alternates "user" and "assistant", starts with "user" and ends with "assistant": '
            "2 or 3 exchanges.\n"
            '- The user asks what a reader would naturally ask, never mentioning "the passage"; follow-up '
            "questions build on the previous answer.\n"
            "- The assistant answers only from the passage."
        ),
        TaskType.SUMMARIZATION: (
            "Write exactly {count} of the passage.\n"
            "- Each summary keeps the main points and key figures in far fewer words than the passage.\n"
            "- When you write several, vary their length and focus (one sentence, a short paragraph, "
            "the key points).\n"
            '- Write only the summary: it will follow an instruction like "Summarize the following passage."'
        ),
        TaskType.REASONING: (
            "Write exactly {count} about the passage, for training a model to reason before it answers.\n"
            "- Each question must make sense on its own, without the passage, and need a few steps of thought: "
            "why, how, a consequence, a comparison, a small calculation or the application of a rule to a case.\n"
            '- "reasoning" works the question out step by step, using only facts stated in the passage; it '
            "never quotes the final answer ahead of time.\n"
            '- "answer" is the final answer alone, complete and in full sentences, without the reasoning.'
        ),
        TaskType.PREFERENCE: (
            "Write exactly {count} about the passage, for training a model to prefer the better answer.\n"
            "- Each question must make sense on its own, without the passage: name the subject.\n"
            '- "answer_a" and "answer_b" are two genuinely different answers of clearly different quality: one '
            "complete, correct and supported by the passage; the other plausible but weaker (incomplete, vague, "
            "or stating something the passage does not support).\n"
            "- Vary which of the two is the better one, and never say which it is."
        ),
    },
    evidence=(
        '- "evidence" is a short quote, one sentence at most, copied word for word from the passage, '
        "that supports the example."
    ),
    round=(
        "- This is round {round} for this passage: earlier rounds already covered its most obvious points. "
        "Write different examples: other facts, other angles (why, how, conditions, consequences, "
        "exceptions, comparisons) and other phrasings."
    ),
    language="- Write the examples in {language}.",
    role='The examples will train an assistant whose system prompt is:\n"""\n{system_prompt}\n"""\n'
    "Write answers that fit that role.",
    output="Reply with this JSON object holding exactly {n} item(s), and nothing else:\n{schema}",
)

_FR = _Texts(
    system=(
        "Vous rédigez des exemples d'entraînement de haute qualité pour affiner un modèle de langage. "
        "N'utilisez que les faits énoncés dans le passage fourni ; n'inventez jamais rien. "
        "Répondez par un seul objet JSON et rien d'autre : ni texte, ni balises de code."
    ),
    source="Source : {name}",
    section="Section : {heading}",
    passage="Passage :",
    nouns={
        TaskType.QA: ("paire question-réponse", "paires question-réponse"),
        TaskType.INSTRUCTION: ("exemple instruction-réponse", "exemples instruction-réponse"),
        TaskType.CONVERSATION: ("conversation", "conversations"),
        TaskType.SUMMARIZATION: ("résumé", "résumés"),
        TaskType.REASONING: ("question avec son raisonnement et sa réponse",
                             "questions avec leur raisonnement et leur réponse"),
        TaskType.PREFERENCE: ("question avec deux réponses", "questions avec deux réponses chacune"),
    },
    tasks={
        TaskType.QA: (
            "Rédigez exactement {count} sur le passage.\n"
            "- Chaque question se comprend seule, sans le passage : nommez le sujet et n'écrivez jamais "
            "« le passage », « le texte » ou « l'auteur ».\n"
            "- Chaque réponse est complète, exacte d'après le passage et rédigée en phrases complètes."
        ),
        TaskType.INSTRUCTION: (
            "Rédigez exactement {count} à partir du passage.\n"
            "- Variez les types de consigne : expliquer, énumérer, comparer, définir, appliquer à un cas, "
            "reformuler.\n"
            "- « input » contient le texte sur lequel porte la consigne quand elle en a besoin (par exemple "
            "une phrase à reformuler) ; sinon c'est une chaîne vide.\n"
            "- « output » est la réponse idéale, complète et exacte d'après le passage."
        ),
        TaskType.CONVERSATION: (
            "Rédigez exactement {count} entre un utilisateur et un assistant sur le passage.\n"
            "- « messages » alterne « user » et « assistant », commence par « user » et finit par "
            "« assistant » : 2 ou 3 échanges.\n"
            "- L'utilisateur pose les questions qu'un lecteur poserait naturellement, sans jamais mentionner "
            "« le passage » ; les relances s'appuient sur la réponse précédente.\n"
            "- L'assistant répond uniquement à partir du passage."
        ),
        TaskType.SUMMARIZATION: (
            "Rédigez exactement {count} du passage.\n"
            "- Chaque résumé garde les points principaux et les chiffres clés, en bien moins de mots que "
            "le passage.\n"
            "- Si vous en rédigez plusieurs, variez leur longueur et leur angle (une phrase, un court "
            "paragraphe, les points clés).\n"
            "- Écrivez seulement le résumé : il suivra la consigne « Résumez le passage suivant. »"
        ),
        TaskType.REASONING: (
            "Rédigez exactement {count} sur le passage, pour apprendre à un modèle à raisonner avant de répondre.\n"
            "- Chaque question se comprend seule, sans le passage, et demande quelques étapes de réflexion : "
            "pourquoi, comment, une conséquence, une comparaison, un petit calcul ou l'application d'une règle "
            "à un cas.\n"
            "- « reasoning » résout la question pas à pas, uniquement à partir des faits du passage ; il "
            "n'annonce jamais la réponse finale à l'avance.\n"
            "- « answer » est la réponse finale seule, complète et en phrases complètes, sans le raisonnement."
        ),
        TaskType.PREFERENCE: (
            "Rédigez exactement {count} sur le passage, pour apprendre à un modèle à préférer la meilleure "
            "réponse.\n"
            "- Chaque question se comprend seule, sans le passage : nommez le sujet.\n"
            "- « answer_a » et « answer_b » sont deux réponses réellement différentes, de qualité nettement "
            "différente : l'une complète, exacte et appuyée par le passage ; l'autre plausible mais moins bonne "
            "(incomplète, vague, ou affirmant ce que le passage n'appuie pas).\n"
            "- Variez laquelle des deux est la meilleure, et ne le dites jamais."
        ),
    },
    evidence=(
        "- « evidence » est une courte citation, une phrase au plus, copiée mot pour mot du passage, "
        "qui appuie l'exemple."
    ),
    round=(
        "- C'est le tour {round} pour ce passage : les tours précédents ont déjà couvert ses points les "
        "plus évidents. Rédigez des exemples différents : d'autres faits, d'autres angles (pourquoi, "
        "comment, conditions, conséquences, exceptions, comparaisons) et d'autres formulations."
    ),
    language="- Rédigez les exemples en français.",
    role='Les exemples entraîneront un assistant dont le prompt système est :\n"""\n{system_prompt}\n"""\n'
    "Rédigez des réponses adaptées à ce rôle.",
    output="Répondez par cet objet JSON contenant exactement {n} élément(s), et rien d'autre :\n{schema}",
)

_TEMPLATES: dict[str, _Texts] = {"en": _EN, "fr": _FR}


def base_language(code: str | None) -> str:
    """A locale's base code: fr-FR -> fr; empty -> en."""
    return (code or "en").replace("_", "-").split("-")[0].strip().lower() or "en"


def summary_user_content(passage: str, language: str = "en", style: SummaryStyle = "default") -> str:
    """The user turn of a summarization example: an instruction, a blank line, the passage."""
    instructions = _SUMMARY_INSTRUCTIONS.get(base_language(language), _SUMMARY_INSTRUCTIONS["en"])
    return f"{instructions[style]}\n\n{passage}"


def render_prompt(request: GenerationRequest) -> list[Message]:
    """The system and user messages asking a model for `request.n_examples` examples as JSON."""
    language = base_language(request.language)
    texts = _TEMPLATES.get(language, _EN)
    task = request.task_type
    singular, plural = texts.nouns[task]
    count = f"{request.n_examples} {singular if request.n_examples == 1 else plural}"

    context = []
    if request.source_name:
        context.append(texts.source.format(name=request.source_name))
    if request.chunk.heading:
        context.append(texts.section.format(heading=request.chunk.heading))
    rules = [texts.tasks[task].format(count=count), texts.evidence]
    if request.round > 0:
        rules.append(texts.round.format(round=request.round + 1))
    rules.append(texts.language.format(language=LANGUAGE_NAMES.get(language, language)))

    parts = []
    if context:
        parts.append("\n".join(context))
    parts.append(f'{texts.passage}\n"""\n{request.chunk.content.strip()}\n"""')
    parts.append("\n".join(rules))
    if request.system_prompt:
        parts.append(texts.role.format(system_prompt=request.system_prompt.strip()))
    parts.append(texts.output.format(n=request.n_examples, schema=SCHEMAS[task]))
    return [
        Message(role="system", content=texts.system),
        Message(role="user", content="\n\n".join(parts)),
    ]
