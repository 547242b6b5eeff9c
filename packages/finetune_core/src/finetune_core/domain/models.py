"""Pydantic domain models: what flows from a Source to an exported Dataset.

They live in one module per concept (`projects`, `content`, `jobs`, `training`, `accounts`, `common`); this module
re-exports them so that `finetune_core.domain.models` imports keep working. Import from `finetune_core.domain`.
"""

from finetune_core.domain import *  # noqa: F403 - the re-export this module exists for
from finetune_core.domain import __all__ as _domain_names
from finetune_core.domain.content import Role

__all__ = [*_domain_names, "Role"]
