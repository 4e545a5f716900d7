"""One stage's epoch metrics (train, val or test): torchmetrics objects fed the steps' outputs in chunks.

Why chunks: a torchmetrics update costs about ten small tensor operations and Python around them (profiled at
0.3 ms per step for loss and accuracy on the development CPU, more than the rest of the framework together;
docs/benchmarks.md). So a step only keeps references to its detached logits, labels and loss, and the
metrics take `CHUNK` steps at once: one update per kind of metric for many steps, with the same epoch
figures (accuracies count integers; the loss is a per-image mean either way).

Nothing here waits for the device: the chunk is concatenated and updated where it lies.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric, MetricCollection, SumMetric
from torchmetrics.classification import MulticlassAccuracy

CHUNK = 32  # steps per metric update; memory: CHUNK batches of logits, e.g. 32 x 128 x 10 floats
TOP5_ABOVE = 10  # top-5 accuracy is reported when there are more classes than this


class StageMetrics(nn.Module):
    """`scores` (accuracy, and top-5 above 10 classes) take (logits, labels); `loss` takes each image's loss;
    `images` (test only) counts the images, summed over DDP ranks. Logged as "{stage}/{name}"."""

    def __init__(self, stage: str, num_classes: int, count_images: bool = False) -> None:
        super().__init__()
        self.stage = stage
        # validate_args=False: argument checks are host syncs on a GPU (labels are checked when the data is read).
        scores: dict[str, Metric | MetricCollection] = {
            "acc": MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        }
        if num_classes > TOP5_ABOVE:
            scores["acc_top5"] = MulticlassAccuracy(num_classes, top_k=5, average="micro", validate_args=False)
        # compute_groups=False: torchmetrics would merge metrics whose states match after the first update,
        # which top-1 and top-5 accuracy can by chance.
        self.scores = MetricCollection(scores, prefix=f"{stage}/", compute_groups=False)
        # nan_strategy="disable": every other strategy syncs. It also drops `weight` (torchmetrics issue #3434),
        # so the loss arrives as one value per image (see flush).
        self.loss = MeanMetric(nan_strategy="disable")
        self.images = SumMetric(nan_strategy="disable") if count_images else None
        self._pending: list[tuple[Tensor, Tensor, Tensor]] = []  # (logits, labels, loss) of steps not yet counted
        self._restored = False  # whether _pending holds steps restored from a checkpoint

    def names(self) -> list[str]:
        """The names compute() logs its figures under."""
        return [
            f"{self.stage}/loss",
            *(str(key) for key in self.scores.keys()),
            *([f"{self.stage}/images"] if self.images is not None else []),
        ]

    def add(self, logits: Tensor, labels: Tensor, loss: Tensor) -> None:
        """Record one step's outputs: references only, no arithmetic; the metrics take every CHUNK steps."""
        self._pending.append((logits.detach(), labels, loss.detach()))
        if len(self._pending) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        """Feed the pending steps to the metrics: one update per kind of metric, a handful of tensor operations."""
        if not self._pending:
            return
        logits, labels, losses = (list(part) for part in zip(*self._pending))
        self._pending = []
        if self._restored:  # steps restored from a checkpoint may lie elsewhere (Lightning restores before it
            self._restored = False  # moves the model); the steps added since lie where the metrics do
            device = self.loss.device
            logits, labels, losses = ([t.to(device) for t in part] for part in (logits, labels, losses))
        self.scores.update(torch.cat(logits), torch.cat(labels))
        # A step's loss is the mean over its images: repeated per image, a short last batch weighs what it holds.
        sizes = [len(y) for y in labels]
        if min(sizes) == max(sizes):  # the usual chunk: two operations, not one per step
            per_image = torch.stack(losses).repeat_interleave(sizes[0])
        else:
            per_image = torch.cat([loss.expand(size) for loss, size in zip(losses, sizes)])
        self.loss.update(per_image)
        if self.images is not None:
            self.images.update(torch.full((), sum(sizes), device=labels[0].device))

    def compute(self) -> dict[str, Tensor]:
        """The epoch's figures by logged name, reduced over DDP ranks; empty when no step ran (nothing to report)."""
        self.flush()
        if not self.loss.update_called:
            return {}
        figures = {f"{self.stage}/loss": self.loss.compute(), **self.scores.compute()}
        if self.images is not None:
            figures[f"{self.stage}/images"] = self.images.compute()
        return figures

    def reset(self) -> None:
        self._pending, self._restored = [], False
        self.scores.reset()
        self.loss.reset()
        if self.images is not None:
            self.images.reset()

    def keep_in_checkpoints(self) -> None:
        """Save the running figures with the module, so that a run resumed mid-epoch reports the whole epoch."""
        for metric in self.modules():
            if isinstance(metric, Metric):
                metric.persistent(True)

    def pending(self) -> dict[str, Any]:
        """The steps not yet counted, for a checkpoint: a resumed run counts them in the same chunk as an
        uninterrupted one would, so its epoch figures are the same to the last bit."""
        return {"steps": [list(step) for step in self._pending]}

    def restore(self, saved: dict[str, Any]) -> None:
        self._pending = [(logits, labels, loss) for logits, labels, loss in saved.get("steps", [])]
        self._restored = bool(self._pending)
