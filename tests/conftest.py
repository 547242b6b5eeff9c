"""Shared fixtures; the workspace fixtures come from finetune_core.testing (a pytest plugin)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
