"""The export formats by name (`format=`): how each writes a network to a file and runs that file again.

- onnx: torch.onnx's exporter built on torch.export (`dynamo=True`, torch's default since 2.9; it needs the
  onnx and onnxscript packages). The older TorchScript-based ONNX exporter has no translation for aten::sinc, so
  a model with the lecture's sinc activation would not export with it. Run again with ONNX Runtime.
- torchscript: `torch.jit.trace` (every shipped network is a fixed graph of tensor operations; scripting would
  refuse the graph layers' Python). TorchScript is deprecated upstream in favour of torch.export; it stays for
  the C++ runtimes (LibTorch) that load it.
- pt2: `torch.export.export` saved with `torch.export.save`: the format torch.export, AOTInductor and
  ExecuTorch start from.

Each has a dynamic batch dimension; the example batch fixes only channels, height and width.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from cnnexp.config.registry import Registry
from cnnexp.errors import ConfigError

Runner = Callable[[Tensor], Tensor]  # (B, C, H, W) normalised images -> (B, classes) logits
INPUT, OUTPUT = "images", "logits"  # the ONNX graph's input and output names
CHATTY = ("onnx_ir", "onnxscript", "torch.onnx")  # loggers of the ONNX exporter


@dataclass(frozen=True)
class Format:
    suffix: str
    write: Callable[[nn.Module, Tensor, Path], None]
    load: Callable[[Path], Runner]
    packages: tuple[str, ...] = ()  # import names needed beyond torch
    extra: str = ""  # the pip extra that installs them

    def check_packages(self, name: str) -> None:
        missing = [p for p in self.packages if importlib.util.find_spec(p) is None]
        if missing:
            raise ConfigError(
                f"format={name} needs the package(s) {', '.join(missing)}, which are not installed: "
                f"pip install 'cnnexp[{self.extra}]' (or pip install {' '.join(missing)})."
            )


FORMATS: Registry[Format] = Registry("export format")


def _batch() -> torch.export.Dim:
    return torch.export.Dim("batch", min=1)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters report each step (on stdout, and in the ONNX passes' INFO logs that Hydra's logging would
    show) and warn that TorchScript is deprecated: none of it is for the user."""
    loggers = [logging.getLogger(name) for name in CHATTY]
    levels = [logger.level for logger in loggers]
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*is deprecated")
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def _write_onnx(net: nn.Module, example: Tensor, path: Path) -> None:
    with _quiet():
        program = torch.onnx.export(
            net, (example,), dynamo=True, input_names=[INPUT], output_names=[OUTPUT], dynamic_shapes=({0: _batch()},)
        )
        assert program is not None  # dynamo=True always returns the program
        program.save(str(path), external_data=False)  # one file (under 2 GB: every shipped model is)


def _load_onnx(path: Path) -> Runner:
    import onnxruntime  # optional: the onnx extra

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {INPUT: x.numpy()})[0])


def _write_torchscript(net: nn.Module, example: Tensor, path: Path) -> None:
    with _quiet():
        # check_trace would run the net again on the same batch; the export is verified on another batch anyway.
        torch.jit.save(torch.jit.trace(net, example, check_trace=False), str(path))


def _load_torchscript(path: Path) -> Runner:
    with _quiet():
        return torch.jit.load(str(path), map_location="cpu")


def _write_pt2(net: nn.Module, example: Tensor, path: Path) -> None:
    with _quiet():
        torch.export.save(torch.export.export(net, (example,), dynamic_shapes=({0: _batch()},)), str(path))


def _load_pt2(path: Path) -> Runner:
    return torch.export.load(str(path)).module()


FORMATS.add("onnx", Format(".onnx", _write_onnx, _load_onnx, ("onnx", "onnxscript", "onnxruntime"), "onnx"))
FORMATS.add("torchscript", Format(".pt", _write_torchscript, _load_torchscript), "jit")
FORMATS.add("pt2", Format(".pt2", _write_pt2, _load_pt2), "torch_export")
