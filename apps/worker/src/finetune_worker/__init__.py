"""The finetune RQ worker: a thin adapter running finetune_core jobs.

Empty for now: its issue fills it in. It depends on finetune_core only (dependencies point inward).
"""

__version__ = "0.1.0"
