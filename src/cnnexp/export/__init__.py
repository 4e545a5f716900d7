"""Exporting a trained network to a file other runtimes load: ONNX, TorchScript, torch.export (task=export)."""
