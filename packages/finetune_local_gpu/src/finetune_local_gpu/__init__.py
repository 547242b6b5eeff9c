"""Local GPU plugin for finetune: hardware probe, model resolution, LoRA/QLoRA/full training.

Empty for now: its issue fills it in. It depends on finetune_core only (dependencies point inward).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
