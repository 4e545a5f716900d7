"""Data: sources, splits, transforms and the embedded digits dataset."""
