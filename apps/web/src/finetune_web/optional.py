"""Tools of plugins the API can do without (the local-GPU plugin's), found in the core's registries when a route
needs them (`finetune_core.model_tools`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from finetune_web.current import workspace
from finetune_web.errors import ApiError

LOCAL_GPU_HINT = "install the finetune-local-gpu plugin (torch==2.13.0 first, see the README)"
T = TypeVar("T")


def model_tool(find: Callable[[Iterable[object]], T | None], feature: str, hint: str = LOCAL_GPU_HINT) -> T:
    """The tool `find` picks among the installed ones (`model_tools.hardware_probe`...), or 501 PLUGIN_NOT_INSTALLED
    saying which feature needs what."""
    tool = find(workspace().plugins.model_tools)
    if tool is None:
        raise ApiError(501, "PLUGIN_NOT_INSTALLED", f"{feature} is not available on this server: {hint}",
                       tool=find.__name__)
    return tool
