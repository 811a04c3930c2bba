"""Window classifiers: registry, shapes, frozen bases, channel handling, weights files."""

import numpy as np
import pytest
import torch

from magnetar.errors import ValidationError
from magnetar.models import (
    BACKBONES,
    TransferClassifier,
    WeightsUnavailableError,
    create_model,
    list_models,
)


def test_registry_lists_the_study_models():
    names = set(list_models())
    assert {"lma_cnn", *BACKBONES} <= names


@pytest.mark.parametrize("name", ["lma_cnn", "resnet18", "mobilenet_v2", "alexnet"])
def test_one_logit_per_window_any_size(name):
    model = create_model(name).eval()
    for size in (64, 250):
        with torch.no_grad():
            out = model(torch.rand(3, 1, size, size))
        assert out.shape == (3,)


def test_frozen_base_has_no_gradients_and_stays_in_eval():
    model = create_model("resnet18")
    assert all(not p.requires_grad for p in model.base.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    model.train()
    assert not model.base.training
    assert model.head.training
    unfrozen = create_model("resnet18", freeze=False)
    assert all(p.requires_grad for p in unfrozen.base.parameters())


def test_grey_window_becomes_three_normalised_channels():
    model = create_model("resnet18")
    x = torch.full((1, 1, 250, 250), 0.485)
    prepared = model.prepare(x)
    assert prepared.shape == (1, 3, 224, 224)
    assert prepared[0, 0].abs().max() < 1e-5  # the red channel mean maps to 0
    assert create_model("inception_v3").input_size == 299


def test_missing_imagenet_weights_say_where_to_put_them(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    from torchvision.models import _api

    def offline(self, *args, **kwargs):
        msg = "network unreachable"
        raise OSError(msg)

    monkeypatch.setattr(_api.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(WeightsUnavailableError) as err:
        create_model("vgg19", weights="imagenet")
    text = str(err.value)
    assert "vgg19-dcbb9e9d.pth" in text
    assert str(tmp_path) in text
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        create_model("resnet18", weights_path=tmp_path / "nothing.pth")
    with pytest.raises(ValidationError, match="weights must be"):
        create_model("resnet18", weights="imagenet21k")


def test_local_weights_loaded_into_the_base(tmp_path):
    donor = TransferClassifier(backbone="resnet18", freeze=False)
    torch.save({"model_state": donor.state_dict(),
                "config": {"model": "resnet18", "model_kwargs": {}}}, tmp_path / "ck.pt")
    # a torchvision state dict (the plain network's keys) works too
    from torchvision import models

    plain = models.resnet18(weights=None)
    torch.save(plain.state_dict(), tmp_path / "tv.pth")
    model = create_model("resnet18", weights_path=tmp_path / "ck.pt")
    pairs = zip(model.base.state_dict().values(), donor.base.state_dict().values(), strict=True)
    for a, b in pairs:
        assert torch.equal(a, b)
    model = create_model("resnet18", weights_path=tmp_path / "tv.pth")
    assert torch.equal(model.base.conv1.weight, plain.conv1.weight)
    with pytest.raises(ValidationError, match="not of backbone"):
        create_model("mobilenet_v2", weights_path=tmp_path / "ck.pt")


def test_coherence_features_one_for_stripes_low_for_isotropic_texture():
    from scipy import ndimage

    from magnetar.models import create_model

    model = create_model("lma_coherence", scales=(8, 32)).eval()
    yy, xx = np.mgrid[0:128, 0:128]
    windows = []
    for angle in (0, 30, 45, 90, 135):  # stripes at any heading: coherence near 1
        a = np.radians(angle)
        windows.append(np.sin((xx * np.cos(a) + yy * np.sin(a)) * 2 * np.pi / 11) / 2 + 0.5)
    rng = np.random.default_rng(0)
    blob = ndimage.gaussian_filter(rng.standard_normal((128, 128)), 3)
    windows.append((blob - blob.min()) / np.ptp(blob))
    with torch.no_grad():
        f = model.features(torch.tensor(np.array(windows), dtype=torch.float32)[:, None])
    assert f.shape == (6, 4)
    assert (f[:5] > 0.9).all()
    assert (f[5] < 0.6).all()
    np.testing.assert_allclose(f[:5].numpy(), f[:1].numpy().repeat(5, 0), atol=0.06)


def test_coherence_ignores_a_gap_filled_with_the_window_mean():
    from magnetar.models import create_model

    model = create_model("lma_coherence", scales=(8,)).eval()
    yy, xx = np.mgrid[0:128, 0:128]
    stripes = np.sin(xx * 2 * np.pi / 11) / 2 + 0.5
    holed = stripes.copy()
    holed[:, 40:100] = stripes.mean()  # half the window is a filled gap
    with torch.no_grad():
        f = model.features(torch.tensor(np.array([stripes, holed]),
                                        dtype=torch.float32)[:, None])
    # the mean over blocks: the gap's flat blocks have no orientation and do not count
    assert float(f[1, 0]) > 0.9
    assert float(f[1, 0]) == pytest.approx(float(f[0, 0]), abs=0.05)


def test_cnn_batch_norm_option_adds_one_norm_per_convolution():
    from magnetar.models import create_model

    model = create_model("lma_cnn", batch_norm=True)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(convs) == len(norms) == 4
    assert all(c.bias is None for c in convs)
    assert model(torch.rand(3, 1, 40, 40)).shape == (3,)


def test_pretrained_path_finds_shipped_models_and_names_them_when_unknown():
    from magnetar.errors import DataNotFoundError
    from magnetar.pretrained import list_pretrained, pretrained_path

    assert {"iar_unet16.pt", "lma_coherence.pt"} <= set(list_pretrained())
    assert pretrained_path("lma_coherence.pt").with_suffix(".lma.config.toml").is_file()
    with pytest.raises(DataNotFoundError, match="lma_coherence.pt"):
        pretrained_path("nope.pt")


def _power_law_field(beta, n=128, seed=0):
    rng = np.random.default_rng(seed)
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n)))
    k[0, 0] = 1.0
    spec = np.fft.fft2(rng.standard_normal((n, n))) * k ** (-beta / 2)
    spec[0, 0] = 0
    f = np.real(np.fft.ifft2(spec))
    return (f - f.min()) / np.ptp(f)


def test_texture_spectral_slope_recovers_a_power_law():
    from magnetar.models import create_model

    model = create_model("lma_texture").eval()
    windows = np.array([_power_law_field(b, seed=s) for b in (2.0, 3.0, 4.0) for s in (0, 1)])
    with torch.no_grad():
        f = model.features(torch.tensor(windows, dtype=torch.float32)[:, None]).numpy()
    slope = f[:, 6 + 3]  # coherence (6), whole-window concentration, two bands, slope
    np.testing.assert_allclose(slope, [-2, -2, -3, -3, -4, -4], atol=0.4)
    # an isotropic random field: no preferred azimuth in either band
    assert (f[:, 7:9] < 0.3).all()


def test_texture_stripes_concentrated_gaussian_values_have_no_excess_kurtosis():
    from magnetar.models import create_model

    model = create_model("lma_texture").eval()
    yy, xx = np.mgrid[0:128, 0:128]
    stripes = []
    for angle in (0, 40, 90, 125):
        a = np.radians(angle)
        stripes.append(np.sin((xx * np.cos(a) + yy * np.sin(a)) * 2 * np.pi / 9) / 2 + 0.5)
    rng = np.random.default_rng(3)
    gauss = rng.standard_normal((128, 128))
    windows = np.array([*stripes, (gauss - gauss.min()) / np.ptp(gauss)])
    with torch.no_grad():
        f = model.features(torch.tensor(windows, dtype=torch.float32)[:, None]).numpy()
    assert f.shape == (5, 14)
    assert (f[:4, 6] > 0.9).all()  # one orientation over the whole window
    assert (f[:4, 7] > 0.9).all()  # spectral power in one azimuth (9-node band)
    assert (f[:4, 12] > 0.8).all()  # gradient energy in the main +-15 degree sector
    assert (f[:4, 13] < 0.1).all()  # and none in another sector
    # a sine's values: excess kurtosis -1.5; Gaussian noise: 0
    np.testing.assert_allclose(f[:4, 10], -1.5, atol=0.05)
    assert abs(f[4, 10]) < 0.1
