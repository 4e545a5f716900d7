"""Schema of conf/kernels (task=kernels): a misspelled key fails when Hydra composes the config.

Kept apart from viz/kernels.py so that registering the schemas at start-up does not import matplotlib.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional


@dataclass
class KernelsConf:
    image: Optional[str] = None  # an image file; null: a test image of the data config
    index: int = 0  # which test image, when image is null
    padding: Any = 0  # P of every kernel that does not set its own
    kernels: Dict[str, Any] = field(default_factory=dict)  # name -> matrix, or {kernel: ..., kernel_scale: ...}
    out: Optional[str] = None  # folder for the PNGs; null: the run folder
