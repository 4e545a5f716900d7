"""cnnexp: convolutional-network experiments declared in Hydra YAML."""

from pathlib import Path

__version__ = "0.1.0"

# The Hydra config groups, at the repository root beside src/ (cnnexp is installed in editable mode).
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
