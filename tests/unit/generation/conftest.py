"""Realistic passages and a request builder for generation tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from finetune_core.domain import Chunk, TaskType
from finetune_core.generation.base import GenerationRequest

ENGLISH_HANDBOOK = """# Annual leave

Annual leave is the paid time off that every employee accrues during the year. Full-time employees \
accrue 25 days of annual leave per calendar year, and part-time employees accrue leave in proportion \
to their contracted hours.

Employees must submit leave requests through the HR portal at least 14 days before the first day of
absence. Managers should approve or reject a request within five working days. If a request is not
answered in time, it is considered approved.

## Carry-over

Unused leave can be carried over to the next year, up to a maximum of 5 days. Carried-over days expire \
on 31 March and are not paid out. The carry-over rule does not apply to employees on probation.

A leave balance refers to the number of days an employee can still take in the current year. It is \
shown on the payslip every month.
"""

ENGLISH_ARTICLE = (
    "Retrieval-augmented generation (RAG) is a technique that lets a language model answer questions "
    "using documents it retrieves at query time. Instead of relying only on what the model memorised "
    "during training, the system first searches a document index for passages related to the question. "
    "The retrieved passages are then added to the prompt, and the model writes its answer from them. "
    "Because the documents can be updated without retraining, RAG keeps answers current and makes it "
    "possible to cite sources. However, the quality of the answer depends heavily on the retriever: if "
    "the relevant passage is not found, the model may still produce a confident but wrong answer. Teams "
    "should therefore evaluate retrieval recall separately from answer quality, for example on a set of "
    "200 labelled questions."
)

FRENCH_HANDBOOK = """# Congés payés

Les congés payés sont des jours de repos rémunérés auxquels tout salarié a droit chaque année. Un \
salarié à temps plein acquiert 2,5 jours ouvrables de congés par mois de travail effectif, soit 30 jours \
par an.

Le salarié doit déposer sa demande de congés sur le portail RH au moins 15 jours avant la date de départ.
L'employeur doit répondre à la demande dans un délai de cinq jours ouvrés. En l'absence de réponse dans
ce délai, la demande est réputée acceptée.

## Report des congés

Les jours non pris peuvent être reportés sur l'année suivante, dans la limite de 5 jours. Les jours \
reportés expirent le 31 mars et ne sont pas indemnisés. Cette règle ne s'applique pas aux salariés en \
période d'essai.

Le solde de congés désigne le nombre de jours qu'un salarié peut encore poser sur l'année en cours. Il \
figure chaque mois sur le bulletin de paie.
"""

FRENCH_ARTICLE = (
    "L'apprentissage par renforcement est une méthode d'apprentissage automatique dans laquelle un agent "
    "apprend en interagissant avec son environnement. À chaque étape, l'agent choisit une action, observe "
    "le nouvel état et reçoit une récompense numérique. Son objectif est de maximiser la somme des "
    "récompenses obtenues sur le long terme. Contrairement à l'apprentissage supervisé, il ne dispose pas "
    "d'exemples étiquetés indiquant la bonne action. Cette approche a permis en 2016 au programme AlphaGo "
    "de battre le champion du monde de go. Les chercheurs doivent cependant concevoir la fonction de "
    "récompense avec soin, car une récompense mal définie conduit l'agent à des comportements inattendus."
)

PASSAGES = {
    "en-handbook": ENGLISH_HANDBOOK,
    "en-article": ENGLISH_ARTICLE,
    "fr-handbook": FRENCH_HANDBOOK,
    "fr-article": FRENCH_ARTICLE,
}

MakeRequest = Callable[..., GenerationRequest]


@pytest.fixture
def make_request() -> MakeRequest:
    def build(
        content: str,
        task_type: TaskType = TaskType.QA,
        *,
        round: int = 0,
        n_examples: int = 5,
        language: str = "en",
        heading: str | None = None,
        source_name: str | None = "employee_handbook.pdf",
        system_prompt: str | None = None,
    ) -> GenerationRequest:
        chunk = Chunk(
            id="chunk-1",
            project_id="p",
            source_id="s",
            chunk_index=0,
            content=content,
            token_count=len(content.split()),
            heading=heading,
        )
        return GenerationRequest(
            key=f"{chunk.id}:{round}",
            chunk=chunk,
            round=round,
            task_type=task_type,
            language=language,
            n_examples=n_examples,
            system_prompt=system_prompt,
            source_name=source_name,
        )

    return build


@pytest.fixture
def passages() -> dict[str, str]:
    """Realistic chunks by name: "en-handbook", "en-article", "fr-handbook", "fr-article"."""
    return PASSAGES
