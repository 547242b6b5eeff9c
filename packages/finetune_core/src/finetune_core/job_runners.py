"""Job runners that plugins provide, each sending jobs to a queue at a URL (finetune-worker's `rq`: Redis).

An app given a queue URL (the web app's REDIS_URL) asks `job_runner_for(url)` here instead of importing the
package that runs the queue: apps never import each other, they meet through the core's plugin registries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from finetune_core.errors import UnknownPluginError
from finetune_core.plugins import registries

if TYPE_CHECKING:
    from collections.abc import Iterable

    from finetune_core.jobs.runner import JobRunner


@dataclass(frozen=True)
class JobRunnerFactory:
    """What `finetune_register_job_runners` registers: `create(url)` gives a runner for a URL of `schemes`.

    `create` should import the queue's client library itself, so that registering stays light.
    """

    name: str
    schemes: tuple[str, ...]
    create: Callable[[str], JobRunner]
    description: str = ""


def job_runner_for(url: str, factories: Iterable[Any] | None = None) -> JobRunner:
    """A runner for the queue at `url`, from the first installed factory serving its scheme.

    `factories`: the registered ones (`registries().job_runners`) unless given. Raises UnknownPluginError when
    none serves the scheme; its message names the scheme only, as the URL may hold a password.
    """
    scheme = urlsplit(url).scheme.lower()
    known: list[JobRunnerFactory] = list(registries().job_runners if factories is None else factories)
    for factory in known:
        if scheme in factory.schemes:
            return factory.create(url)
    installed = ", ".join(f"{factory.name} ({', '.join(factory.schemes)})" for factory in known) or "none"
    raise UnknownPluginError(
        f"no installed plugin runs jobs on a '{scheme}' queue URL (job runners installed: {installed})",
        scheme=scheme,
    )
