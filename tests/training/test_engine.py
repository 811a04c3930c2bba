"""The one training engine: resume is bit for bit, best.pt follows a resume, schedules and
early stopping are exact, checkpoints load without running code."""

import json
from dataclasses import dataclass

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from magnetar.errors import FileFormatError, ValidationError  # noqa: E402
from magnetar.training import engine  # noqa: E402
from magnetar.training.checkpoint import load_state, save_checkpoint, update_metadata  # noqa: E402
from magnetar.training.classification import ClassifierConfig, fit_classifier  # noqa: E402
from magnetar.training.reconstruction import TrainConfig, fit  # noqa: E402
from magnetar.training.segmentation import SegmentationConfig, fit_segmentation  # noqa: E402


def _run_twice(tmp_path, train, config_at):
    """Four epochs in one go, and two then two more resumed; both runs' last.pt."""
    train(config_at(4), tmp_path / "once", False)
    train(config_at(2), tmp_path / "split", False)
    train(config_at(4), tmp_path / "split", True)
    return [load_state(tmp_path / d / "last.pt") for d in ("once", "split")]


def _assert_identical(a, b):
    drop = ("seconds",)
    assert [{k: v for k, v in h.items() if k not in drop} for h in a["history"]] == \
        [{k: v for k, v in h.items() if k not in drop} for h in b["history"]]
    for key, value in a["model_state"].items():
        assert torch.equal(value, b["model_state"][key]), key


def _tiles(n, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:16, 0:16] / 16.0
    return 50 * np.sin(2 * np.pi * rng.uniform(1, 3, (n, 1, 1)) * x + y)


def test_reconstruction_resume_is_bit_for_bit(tmp_path):
    train, val = _tiles(48, 0), _tiles(8, 1)

    def config_at(epochs):
        return TrainConfig(model="conv_masked_ae", model_kwargs={"base": 4, "depth": 1},
                           epochs=epochs, batch_size=16, device="cpu")  # cosine depends on epochs

    a, b = _run_twice(tmp_path, lambda c, d, r: fit(train, val, c, out_dir=d, resume=r),
                      config_at)
    _assert_identical(a, b)


def test_segmentation_resume_is_bit_for_bit(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 16, 16)).astype(np.float32)
    y = (rng.random((8, 16, 16)) > 0.7).astype(np.float32)

    def config_at(epochs):
        return SegmentationConfig(model_kwargs={"base": 4, "depth": 2}, epochs=epochs,
                                  batch_size=4, device="cpu")

    a, b = _run_twice(tmp_path, lambda c, d, r: fit_segmentation(
        x, y, x[:2], y[:2], c, out_dir=d, resume=r), config_at)
    _assert_identical(a, b)


def test_classifier_resume_is_bit_for_bit_and_best_follows_the_resume(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((32, 16, 16)).astype(np.float32)
    y = np.arange(32) % 2

    def config_at(epochs):
        return ClassifierConfig(model="lma_coherence", epochs=epochs, batch_size=8,
                                device="cpu", patience=0)

    a, b = _run_twice(tmp_path, lambda c, d, r: fit_classifier(
        x, y, x[:8], y[:8], c, out_dir=d, resume=r), config_at)
    _assert_identical(a, b)
    # best.pt carries the resumed config even when no resumed epoch improved on it
    assert load_state(tmp_path / "split" / "best.pt")["config"]["epochs"] == 4
    saved = json.loads((tmp_path / "split" / "train.config.json").read_text())
    assert saved["epochs"] == 4


def test_resume_with_another_config_is_refused(tmp_path):
    train, val = _tiles(16, 0), _tiles(4, 1)
    cfg = TrainConfig(model="conv_masked_ae", model_kwargs={"base": 4, "depth": 1}, epochs=1,
                      batch_size=16, device="cpu")
    fit(train, val, cfg, out_dir=tmp_path)
    other = TrainConfig(model="conv_masked_ae", model_kwargs={"base": 4, "depth": 1},
                        epochs=2, batch_size=16, device="cpu", lr=5e-3)
    with pytest.raises(ValidationError, match="another config"):
        fit(train, val, other, out_dir=tmp_path, resume=True)


class _Scripted(engine.Task):
    """A one-weight model on constant data; validation losses follow a script."""

    kind = "scripted"

    def __init__(self, losses):
        self.losses = list(losses)
        self.calls = 0

    def batches(self, model, epoch, generator, device):
        yield (torch.ones(4, 1),)

    def loss(self, model, batch):
        return model(batch[0]).pow(2).mean()

    def validate(self, model, device):
        self.calls += 1
        return {"val_loss": self.losses[self.calls - 1]}


@dataclass
class _Config:
    epochs: int = 6
    lr: float = 0.1
    seed: int = 0
    device: str = "cpu"
    lr_schedule: str = "constant"
    patience: int = 0


def test_cosine_rates_are_the_analytic_ones():
    config = _Config(lr_schedule="cosine", epochs=5)
    _, history = engine.fit(torch.nn.Linear(1, 1), _Scripted([1.0] * 5), config)
    expected = [0.1 * 0.5 * (1 + np.cos(np.pi * e / 5)) for e in range(5)]
    np.testing.assert_allclose([h["lr"] for h in history], expected, rtol=1e-12)


def test_early_stopping_after_exactly_patience_epochs():
    losses = [5.0, 3.0, 4.0, 4.0, 1.0, 0.5]  # no improvement at epochs 2 and 3
    _, history = engine.fit(torch.nn.Linear(1, 1), _Scripted(losses), _Config(patience=2))
    assert [h["epoch"] for h in history] == [0, 1, 2, 3]


def test_in_memory_run_returns_its_best_epoch():
    model = torch.nn.Linear(1, 1)
    losses = [3.0, 1.0, 2.0, 2.5]
    seen = []

    class Task(_Scripted):
        def validate(self, model, device):
            seen.append({k: v.clone() for k, v in model.state_dict().items()})
            return super().validate(model, device)

    best, _ = engine.fit(model, Task(losses), _Config(epochs=4))
    for key, value in best.state_dict().items():
        assert torch.equal(value, seen[1][key])


class _Payload:
    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.target}",))


def test_crafted_checkpoint_does_not_run(tmp_path):
    target = tmp_path / "pwned"
    payload = _Payload()
    payload.target = target
    path = tmp_path / "evil.pt"
    torch.save({"model_state": {}, "config": {}, "x": payload}, path)
    assert not target.exists()
    with pytest.raises(FileFormatError, match="evil.pt.*refused without running it"):
        load_state(path)
    assert not target.exists()
    from magnetar.training.classification import load_classifier
    from magnetar.training.reconstruction import load_checkpoint
    from magnetar.training.segmentation import load_segmentation

    for loader in (load_checkpoint, load_classifier, load_segmentation):
        with pytest.raises(FileFormatError):
            loader(path)
    assert not target.exists()


@pytest.mark.parametrize("content", [b"", b"junk bytes", b"PK\x03\x04broken zip"])
def test_junk_checkpoint_refused_naming_file(tmp_path, content):
    path = tmp_path / "junk.pt"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match="junk.pt"):
        load_state(path)


def test_update_metadata_keeps_weights(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"model_state": {"w": torch.ones(2)},
                                               "config": {"threshold": 0.5}})
    update_metadata(path, config={"threshold": 0.7})
    state = load_state(path)
    assert state["config"] == {"threshold": 0.7}
    assert torch.equal(state["model_state"]["w"], torch.ones(2))
    with pytest.raises(ValidationError, match="does not change weights"):
        update_metadata(path, model_state={})


def test_long_epochs_report_progress_without_a_terminal(monkeypatch, caplog):
    clock = iter(range(0, 10_000, 20))  # every perf_counter call 20 s later
    monkeypatch.setattr(engine.time, "perf_counter", lambda: next(clock))
    with caplog.at_level("INFO", logger="magnetar.training.engine"):
        engine.fit(torch.nn.Linear(1, 1), _Scripted([2.0, 1.0]), _Config(epochs=2))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"]
