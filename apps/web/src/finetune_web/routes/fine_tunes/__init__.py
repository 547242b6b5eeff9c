"""Fine-tunes, in the shape of each REST family: finetuneflow's training and model export, fintune-platform's
fine-tunings, dualqueryintelligence's finetune jobs."""
