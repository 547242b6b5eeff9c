"""Log lines of this package on stderr, next to rq's own (rq sets up handlers for its loggers only)."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(processName)s: %(message)s"


def log_to_stderr(level: int = logging.INFO) -> None:
    logger = logging.getLogger("finetune_worker")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
        logger.addHandler(handler)
    logger.setLevel(level)
