"""The plugin manager: built-ins and third parties alike come through the `finetune` entry points."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

import pluggy

from finetune_core import hookspecs
from finetune_core.errors import DuplicateNameError, UnknownPluginError

ENTRY_POINT_GROUP = "finetune"
T = TypeVar("T")

pm = pluggy.PluginManager("finetune")
pm.add_hookspecs(hookspecs)
_loaded = False
_lock = threading.Lock()


def load_plugins() -> pluggy.PluginManager:
    """Load every `finetune` entry point once; FINETUNE_PLUGINS=a,b limits which ones."""
    global _loaded
    with _lock:
        if _loaded:
            return pm
        allow = os.environ.get("FINETUNE_PLUGINS")
        if allow is None:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        else:
            wanted = {name.strip() for name in allow.split(",") if name.strip()}
            for name in sorted(wanted):
                pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=name)
        _loaded = True
    return pm


def reload_plugins() -> pluggy.PluginManager:
    """Forget what was loaded and load the entry points again (for tests and long-lived hosts)."""
    global _loaded
    with _lock:
        for name, plugin in list(pm.list_name_plugin()):
            pm.unregister(plugin, name=name)
        _loaded = False
    return load_plugins()


class Registry(Generic[T]):
    """Items by unique name, remembering which plugin registered each."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._owners: dict[str, str] = {}

    def add(self, item: T, owner: str) -> None:
        name = getattr(item, "name", None)
        if not isinstance(name, str) or not name:
            raise DuplicateNameError(f"plugin '{owner}' registered a {self.kind} without a name")
        if name in self._items:
            raise DuplicateNameError(
                f"{self.kind} '{name}' from plugin '{owner}' clashes with the one from plugin "
                f"'{self._owners[name]}': names are stored in the database, so each must be unique",
                name=name,
                plugins=[self._owners[name], owner],
            )
        self._items[name] = item
        self._owners[name] = owner

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise UnknownPluginError(
                f"no {self.kind} named '{name}' is installed (installed: {known})",
                name=name,
            ) from None

    def owner(self, name: str) -> str:
        return self._owners[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)


def collect(hook_name: str, kind: str) -> Registry[Any]:
    """Call one registration hook on every plugin, each with its own `register`."""
    load_plugins()
    registry: Registry[Any] = Registry(kind)
    hook = getattr(pm.hook, hook_name)
    for impl in reversed(hook.get_hookimpls()):  # registration order
        def register(item: Any, _owner: str = impl.plugin_name) -> None:
            registry.add(item, _owner)

        impl.function(**{arg: register for arg in impl.argnames})
    return registry


class Registries:
    """Every registry, built once per plugin load."""

    def __init__(self) -> None:
        self.sources = collect("finetune_register_sources", "source loader")
        self.chunkers = collect("finetune_register_chunkers", "chunker")
        self.generators = collect("finetune_register_generators", "generator")
        self.validators = collect("finetune_register_validators", "validator")
        self.exporters = collect("finetune_register_exporters", "exporter")
        self.trainers = collect("finetune_register_trainers", "trainer")
        self.chat_models = collect("finetune_register_chat_models", "chat model")
        self.model_hosts = collect("finetune_register_model_hosts", "model host")
        self.providers = collect("finetune_register_providers", "provider")
        self.job_runners = collect("finetune_register_job_runners", "job runner")
        self.job_types = collect("finetune_register_job_types", "job type")
        self.model_tools = collect("finetune_register_model_tools", "model tool")
        self.payment_gateways = collect("finetune_register_payment_gateways", "payment gateway")
        self.media_models = collect("finetune_register_media_models", "media model")


_registries: Registries | None = None


def registries(*, refresh: bool = False) -> Registries:
    """The registries of the installed plugins; `refresh=True` reloads the entry points."""
    global _registries
    if refresh:
        reload_plugins()
        _registries = None
    if _registries is None:
        _registries = Registries()
    return _registries


def invalidate() -> None:
    """Rebuild the registries on next use (after registering or unregistering a plugin by hand)."""
    global _registries
    _registries = None
