"""Checkpoints that carry their run: the record they hold, reading them, matching them to a run, fine-tuning."""
