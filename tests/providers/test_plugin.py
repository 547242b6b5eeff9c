"""The providers' plugin: found through its entry point, registering five generators, importing no SDK up front."""

from __future__ import annotations

import subprocess
import sys

from finetune_core.plugins import registries


def test_the_entry_point_registers_every_provider_generator() -> None:
    generators = registries(refresh=True).generators
    for name in ("openai-compatible", "openai", "anthropic", "mistral", "together", "fireworks", "llama-cpp"):
        assert name in generators
        assert generators.owner(name) == "providers"
    assert "extractive" in generators  # the core's own generator is still there


def test_loading_the_plugin_imports_no_sdk() -> None:
    code = ("import sys, finetune_providers.plugin; "
            "print(sorted(m for m in ('openai', 'anthropic', 'mistralai', 'llama_cpp') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
