"""Layer types of the stack language; importing this package registers all of them in LAYERS."""

from cnnexp.model.layers import conv, graph, modern, pool, shortcut, simple  # noqa: F401  (registration by import)
from cnnexp.model.layers.base import LAYERS, Inferred, LayerSpec, Place, Row, Shape, need_flat, need_map, spec_field

# What a module of your own layer types needs (docs/layers.md, "Your own layer types").
__all__ = ["LAYERS", "Inferred", "LayerSpec", "Place", "Row", "Shape", "need_flat", "need_map", "spec_field"]
