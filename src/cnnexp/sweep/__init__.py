"""Sweepers of cnnexp's own (Hydra's grid sweeper and its launchers are used as they are)."""
