"""ImageDataModule on in-memory tensors: shapes, order, sharding, normalisation, augmentation, storage."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import SimpleNamespace

import pytest
import torch

from cnnexp.data.batches import Shard, train_order
from cnnexp.data.module import ImageDataModule
from cnnexp.data.spec import Augment, DataSpec
from cnnexp.data.split import Tensors
from cnnexp.data.transforms import BatchTransform, flip, translate
from cnnexp.errors import ConfigError

SpecFor = Callable[..., DataSpec]
Prepared = Callable[..., ImageDataModule]
TrainerFor = Callable[..., SimpleNamespace]

MISMATCH = (
    "model takes 3×227×227 but data=digits gives 1×28×28; set data.adapt=true (or null) to resize to 227×227 and "
    "repeat the grey channel 3 times, or use a model made for this data (e.g. model=alexnet_small)."
)


def labels_as_ids(dm: ImageDataModule) -> None:
    """Replace each split's labels by 0..N-1, so a batch's labels say which stored images it holds."""
    dm.parts = {s: Tensors(p.images, torch.arange(len(p))) for s, p in dm.parts.items()}


def seen(loader: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> list[int]:
    return torch.cat([y for _, y in loader]).tolist()


def test_shape_mismatch_with_adapt_false_says_what_to_do(spec_for: SpecFor) -> None:
    with pytest.raises(ConfigError) as caught:
        ImageDataModule(spec_for("digits", adapt=False), (3, 227, 227), fitting_models=["alexnet_small"])
    assert str(caught.value) == MISMATCH
    with pytest.raises(
        ConfigError, match=r"set data\.adapt=true \(or null\) to convert RGB to grey, .*model\.input is 3×32×32"
    ):
        ImageDataModule(spec_for("cifar10", adapt=False), (1, 32, 32))
    for adapt in (None, True):
        with pytest.raises(ConfigError, match=r"converts only between 1 \(grey\) and 3 \(RGB\)"):
            ImageDataModule(spec_for("digits", adapt=adapt), (2, 28, 28))


@pytest.mark.parametrize("adapt", [None, True])  # null (the default) adapts as true does
@pytest.mark.parametrize("model", [(3, 64, 48), (1, 8, 8)])
def test_adapt_gives_batches_of_the_model_shape(
    spec_for: SpecFor, prepared: Prepared, model: tuple[int, int, int], adapt: bool | None
) -> None:
    dm = prepared(spec_for("digits", adapt=adapt), model_input=model)
    x, y = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert x.shape == (32, *model) and x.dtype == torch.float32 and torch.isfinite(x).all()


def test_rgb_to_grey_uses_luminance() -> None:
    rgb = torch.tensor([255, 0, 0], dtype=torch.uint8).view(1, 3, 1, 1).expand(2, 3, 4, 4)
    out = BatchTransform((0.0,) * 3, (1.0,) * 3, (1, 2, 2), Augment())(rgb, train=False)
    assert out.shape == (2, 1, 2, 2) and torch.allclose(out, torch.full_like(out, 0.299))


def test_order_depends_on_seed_and_epoch_only(spec_for: SpecFor, prepared: Prepared, trainer_for: TrainerFor) -> None:
    trainer = trainer_for(epoch=0)
    first, again = prepared(spec_for(), trainer=trainer), prepared(spec_for(), trainer=trainer_for(epoch=0))
    loader = first.train_dataloader()
    epoch0 = seen(loader)
    assert epoch0 == seen(again.train_dataloader()), "same seed and epoch, same order"
    trainer.current_epoch = 1  # the loader reads the epoch when iteration starts, as after a resume
    assert seen(loader) != epoch0
    assert sorted(seen(loader)) == sorted(epoch0), "a permutation of the same images"
    other_seed = prepared(spec_for(seed=1), trainer=trainer_for(epoch=0))
    assert seen(other_seed.train_dataloader()) != epoch0


def test_ddp_shards(spec_for: SpecFor, prepared: Prepared, trainer_for: TrainerFor) -> None:
    spec = spec_for(train_size=301, test_size=101)  # 241 train images: odd, so one is left out per epoch
    ranks = [prepared(spec, trainer=trainer_for(rank=r, world=2, epoch=3)) for r in (0, 1)]
    for dm in ranks:
        labels_as_ids(dm)
    train = [seen(dm.train_dataloader()) for dm in ranks]
    assert set(train[0]).isdisjoint(train[1]) and len(train[0]) == len(train[1]) == 120
    lengths = [len(dm.train_dataloader()) for dm in ranks]
    assert lengths == [len(list(dm.train_dataloader())) for dm in ranks] == [4, 4], "same batch count per rank"
    assert sorted(train[0] + train[1]) == sorted(train_order(241, spec.seed, 3, Shard())[:240].tolist())
    for stage, size in (("val", 60), ("test", 101)):
        shards = [seen(getattr(dm, f"{stage}_dataloader")()) for dm in ranks]
        assert sorted(shards[0] + shards[1]) == list(range(size)), f"{stage}: every image exactly once"


def test_normalised_train_split_has_zero_mean_unit_std(
    spec_for: SpecFor, prepared: Prepared, trainer_for: TrainerFor
) -> None:
    dm = prepared(spec_for(val_size=0), trainer=trainer_for(training=False))
    x = torch.cat([dm.on_after_batch_transfer(batch, 0)[0] for batch in dm.train_dataloader()])
    assert abs(x.mean().item()) < 1e-4 and abs(x.std(unbiased=False).item() - 1) < 1e-4
    given = prepared(spec_for(mean=(0.5,), std=(0.25,)), trainer=trainer_for(training=False))
    images, labels = next(iter(given.test_dataloader()))
    expected = (images.float() / 255 - 0.5) / 0.25
    assert torch.allclose(given.on_after_batch_transfer((images, labels), 0)[0], expected, atol=1e-5)


def test_augmentation_only_in_training(spec_for: SpecFor, prepared: Prepared, trainer_for: TrainerFor) -> None:
    trainer = trainer_for(training=True)
    dm = prepared(spec_for(augment={"translate": 3, "flip": True}), trainer=trainer)
    plain = prepared(spec_for(), trainer=trainer_for(training=False))
    batch = next(iter(dm.train_dataloader()))
    assert not torch.equal(dm.on_after_batch_transfer(batch, 0)[0], plain.on_after_batch_transfer(batch, 0)[0])
    trainer.training = False  # validation and test inside fit
    for loader in (dm.val_dataloader(), dm.test_dataloader()):
        for batch in loader:
            assert torch.equal(dm.on_after_batch_transfer(batch, 0)[0], plain.on_after_batch_transfer(batch, 0)[0])


def test_translate_shifts_with_zero_fill_and_flip_mirrors() -> None:
    x = torch.randint(1, 256, (16, 2, 5, 6), dtype=torch.uint8)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for image, out in zip(padded, translate(x, 1)):
        crops = [image[:, dy : dy + 5, dx : dx + 6] for dy in range(3) for dx in range(3)]
        assert any(torch.equal(out, crop) for crop in crops)
    assert all(torch.equal(m, i) or torch.equal(m, i.flip(-1)) for m, i in zip(flip(x), x))


def test_the_dataset_is_held_once_as_uint8(spec_for: SpecFor, prepared: Prepared) -> None:
    dm = prepared(spec_for())
    assert all(p.images.dtype == torch.uint8 and p.labels.dtype == torch.int64 for p in dm.parts.values())
    assert (len(dm.parts["train"]), len(dm.parts["val"]), len(dm.parts["test"])) == (240, 60, 100)
    before = dict(dm.parts)
    dm.setup("test")  # trainer.test after trainer.fit: nothing is loaded or copied again
    assert all(dm.parts[s].images is before[s].images for s in before)
    x, _ = next(iter(dm.test_dataloader()))
    stored = dm.parts["test"].images
    assert x.untyped_storage().data_ptr() == stored.untyped_storage().data_ptr(), "eval batches are views"
    assert "uint8 in memory on cpu" in dm.describe() and "240 train / 60 val / 100 test" in dm.describe()


def test_sizes_and_shapes_are_checked_against_the_source(spec_for: SpecFor) -> None:
    assert "not loaded yet" in ImageDataModule(spec_for(), (1, 28, 28)).describe()
    with pytest.raises(ConfigError, match=r"data\.val_size=300 leaves no training images of the 300"):
        ImageDataModule(spec_for(val_size=300), (1, 28, 28)).setup("fit")
    with pytest.raises(ConfigError, match=r"data\.channels/height/width say 1×32×32 but data=digits images are 1×"):
        ImageDataModule(spec_for(shape=(1, 32, 32)), (1, 32, 32)).setup("fit")
    with pytest.raises(ConfigError, match=r"data\.num_classes=7 but data=digits has 10 classes"):
        ImageDataModule(spec_for(num_classes=7), (1, 28, 28)).setup("fit")


def test_validation_larger_than_training_is_said_in_one_warning(
    spec_for: SpecFor, prepared: Prepared, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="cnnexp")
    dm = prepared(spec_for(val_size=200))  # 300 train images: 100 train, 200 val
    assert (dm.count("train"), dm.count("val")) == (100, 200)
    warned = [r for r in caplog.records if r.levelname == "WARNING"]
    assert [r.getMessage() for r in warned] == [
        "data=digits: 200 val images (data.val_size=200 of the train split) but 100 train images: validation is "
        "larger than training; a share such as data.val_size=0.1 holds out a tenth."
    ]
    caplog.clear()
    prepared(spec_for(val_size=150))  # as many val images as train images: nothing to say
    assert [r for r in caplog.records if r.levelname == "WARNING"] == []
