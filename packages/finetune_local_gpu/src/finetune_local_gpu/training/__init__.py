"""The `local` trainer: LoRA, QLoRA and full fine-tuning on this machine (transformers, peft, trl).

`trainer.LocalTrainer` is what the plugin registers; it imports nothing heavy. The run itself is
`session.run_training`, over `data` (chat template, assistant-only labels), `model` (loading,
peft and trl configuration), `callbacks` (events, progress, cancel), `artifacts` (files of a run)
and `runtime` (device, precision, the 4-bit probe).
"""
