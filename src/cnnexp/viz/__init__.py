"""Pictures cnnexp draws: activation curves, kernels, feature maps."""
