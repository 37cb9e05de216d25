"""A run folder: its files, checkpoints, records, and the pretrained runs that ship with the package."""
