"""Sources, in the shape of each REST family: finetuneflow's files, fintune-platform's contents and helpers,
foyergpt's documents."""
