"""The two sizes the benchmark runs at: `full` for the figures in docs/benchmarks.md, `tiny` for CI.

Every row uses one Size for both of its sides, so cnnexp and its peer always see the same model, data,
batch size and number of steps.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    name: str
    train_images: int  # digits rendered for the train split (data.train_size)
    test_images: int  # digits rendered for the test split (data.test_size)
    val_images: int  # held out of train by cnnexp (data.val_size); the other rows train on the rest
    batch: int  # LeNet5 batch size, both sides
    warmup: int  # steps run before the throughput clock starts (first-call costs, allocator growth)
    steps: int  # steps timed by the throughput rows
    repeats: int  # each pair of sides is measured this many times, order alternating; figures are medians
    memory_steps: int  # steps of the peak-memory runs (the peak is reached within the first few)
    alexnet_batch: int  # the GPU rows: AlexNet at 224×224
    alexnet_steps: int

    def digits_overrides(self, val_images: int | None = None) -> list[str]:
        """cnnexp overrides that render (or read from the cache) this size's digits; `val_images` replaces the
        size's hold-out (0: every train image is trained on)."""
        val = self.val_images if val_images is None else val_images
        return [
            f"data.train_size={self.train_images}", f"data.test_size={self.test_images}",
            f"data.val_size={val}", f"data.batch_size={self.batch}",
        ]  # fmt: skip


FULL = Size(
    name="full", train_images=60000, test_images=10000, val_images=5000, batch=128, warmup=20, steps=300,
    repeats=3, memory_steps=50, alexnet_batch=256, alexnet_steps=100,
)  # fmt: skip
# Small enough that the whole command runs in well under a minute on a 2-core CPU; figures are noise.
TINY = Size(
    name="tiny", train_images=1000, test_images=300, val_images=200, batch=32, warmup=2, steps=8,
    repeats=1, memory_steps=3, alexnet_batch=4, alexnet_steps=2,
)  # fmt: skip
SIZES = {size.name: size for size in (FULL, TINY)}
