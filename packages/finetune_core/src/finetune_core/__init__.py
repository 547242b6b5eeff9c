"""finetune_core: documents in, a clean fine-tuning dataset out."""

__version__ = "0.1.0"
