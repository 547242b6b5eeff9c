"""The finetune REST API: a thin Flask adapter over finetune_core.

Empty for now: its issue fills it in. It depends on finetune_core only (dependencies point inward).
"""

__version__ = "0.1.0"
