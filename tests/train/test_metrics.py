"""train/metrics.py: chunked updates give the figures of a per-step reference, and survive a checkpoint exactly."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnexp.train.metrics import CHUNK, StageMetrics

Step = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (logits, labels, loss)


def _steps(count: int, classes: int, batch: int = 16, last: int = 5) -> list[Step]:
    """`count` steps of random logits; the last batch is short, as an epoch's last batch often is."""
    generator = torch.Generator().manual_seed(classes)
    steps = []
    for index in range(count):
        size = last if index == count - 1 else batch
        logits = torch.randn(size, classes, generator=generator)
        labels = torch.randint(0, classes, (size,), generator=generator)
        steps.append((logits, labels, F.cross_entropy(logits, labels)))
    return steps


def _reference(steps: list[Step]) -> dict[str, float]:
    """Per-image figures computed directly: what the metrics must report."""
    logits, labels = torch.cat([s[0] for s in steps]), torch.cat([s[1] for s in steps])
    images = sum(len(s[1]) for s in steps)
    top5 = (logits.topk(5, dim=1).indices == labels[:, None]).any(dim=1)
    return {
        "loss": sum(float(s[2]) * len(s[1]) for s in steps) / images,  # a short batch weighs what it holds
        "acc": float((logits.argmax(dim=1) == labels).float().mean()),
        "acc_top5": float(top5.float().mean()),
        "images": float(images),
    }


@pytest.mark.parametrize("classes", [10, 100])
def test_chunked_figures_equal_the_per_image_reference(classes: int) -> None:
    steps = _steps(2 * CHUNK + 7, classes)  # two full chunks and a partial one
    metrics = StageMetrics("test", classes, count_images=True)
    for step in steps:
        metrics.add(*step)
    figures = {name.split("/")[1]: float(value) for name, value in metrics.compute().items()}
    reference = _reference(steps)
    expected = set(reference) if classes > 10 else set(reference) - {"acc_top5"}  # top-5 only above 10 classes
    assert set(figures) == expected
    assert figures == pytest.approx({k: reference[k] for k in expected}, rel=1e-6)


def test_a_stage_without_steps_reports_nothing_and_reset_starts_afresh() -> None:
    metrics = StageMetrics("val", 10)
    assert metrics.compute() == {}
    for step in _steps(3, 10):
        metrics.add(*step)
    metrics.reset()
    assert metrics.compute() == {}


def test_a_checkpoint_mid_chunk_resumes_to_the_same_bits() -> None:
    steps = _steps(CHUNK + 20, 10)
    whole = StageMetrics("train", 10)
    whole.keep_in_checkpoints()
    for step in steps:
        whole.add(*step)

    cut = StageMetrics("train", 10)
    cut.keep_in_checkpoints()
    for step in steps[: CHUNK + 9]:  # interrupted inside the second chunk
        cut.add(*step)
    state, pending = cut.state_dict(), cut.pending()
    assert set(state) >= {"loss.mean_value", "scores.acc.tp"}  # the running figures are saved

    resumed = StageMetrics("train", 10)
    resumed.keep_in_checkpoints()
    resumed.load_state_dict(state)
    resumed.restore(pending)
    for step in steps[CHUNK + 9 :]:
        resumed.add(*step)
    assert {k: v.item() for k, v in resumed.compute().items()} == {k: v.item() for k, v in whole.compute().items()}


def test_only_kept_metrics_are_saved() -> None:
    assert StageMetrics("val", 10).state_dict() == {}
