"""Modules of plugins the API can do without (the local-GPU plugin), imported when a route needs them."""

from __future__ import annotations

import importlib
from types import ModuleType

from finetune_web.errors import ApiError

LOCAL_GPU_HINT = "install the finetune-local-gpu plugin (torch==2.13.0 first, see the README)"


def optional_module(name: str, feature: str, hint: str = LOCAL_GPU_HINT) -> ModuleType:
    """`name` imported, or 501 PLUGIN_NOT_INSTALLED saying which feature needs what."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ApiError(501, "PLUGIN_NOT_INSTALLED", f"{feature} is not available on this server: {hint}",
                       module=name) from None
