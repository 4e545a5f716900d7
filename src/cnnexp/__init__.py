"""cnnexp: convolutional-network experiments declared in Hydra YAML."""

from pathlib import Path

__version__ = "0.1.0"


def _conf_dir() -> Path:
    """The shipped Hydra config groups: inside the package when installed from a wheel (setup.py ships the
    repository's conf/ as cnnexp/conf), else conf/ at the root of the checkout beside src/ (editable installs,
    PYTHONPATH=src)."""
    here = Path(__file__).resolve().parent
    packaged = here / "conf"
    return packaged if (packaged / "config.yaml").is_file() else here.parents[1] / "conf"


CONF_DIR = _conf_dir()
