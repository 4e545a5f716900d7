"""cnnexp: convolutional-network experiments declared in Hydra YAML."""

__version__ = "0.1.0"
