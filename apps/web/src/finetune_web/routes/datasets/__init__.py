"""Datasets: a project's dataset (finetuneflow: generation, examples, stats) and fintune-platform's datasets."""
