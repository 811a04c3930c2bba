import pytest

torch = pytest.importorskip("torch")

from magnetar.errors import ValidationError  # noqa: E402
from magnetar.models import create_model, list_models  # noqa: E402


@pytest.mark.parametrize("name", list_models("*_ae"))  # unet: test_unet; classifiers: test_classifiers
def test_every_model_forward_backward_and_state_round_trip(name, tmp_path):
    torch.manual_seed(0)
    model = create_model(name)
    x = torch.randn(3, 2, 32, 32)
    out = model(x)
    assert out.shape == (3, 1, 32, 32)
    assert torch.isfinite(out).all()
    out.mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
    torch.save(model.state_dict(), tmp_path / "m.pt")
    again = create_model(name)
    again.load_state_dict(torch.load(tmp_path / "m.pt"))
    model.eval()
    again.eval()
    assert torch.equal(model(x), again(x))


def test_conv_ae_pads_odd_sizes_and_dense_checks_size():
    conv = create_model("conv_masked_ae", base=4, depth=3).eval()
    assert conv(torch.randn(1, 2, 21, 30)).shape == (1, 1, 21, 30)
    dense = create_model("dense_ae", tile=16)
    with pytest.raises(ValidationError, match="16x16"):
        dense(torch.randn(1, 2, 32, 32))
    with pytest.raises(ValidationError, match="values and mask"):
        conv(torch.randn(1, 1, 32, 32))


def test_registry_lists_valid_names_on_error():
    assert {"dense_ae", "conv_masked_ae"} <= set(list_models())
    with pytest.raises(ValidationError, match="dense_ae"):
        create_model("resnet9000")


def test_normalised_convolution_prior_fills_a_plane_and_a_constant():
    model = create_model("conv_masked_ae", base=4, depth=2, prior_scales=(1, 3)).eval()
    rng = torch.Generator().manual_seed(0)
    known = (torch.rand(2, 1, 24, 24, generator=rng) > 0.6).float()
    values = torch.full((2, 1, 24, 24), 3.5)
    priors, certainty = model._priors(torch.cat([values * known, known], dim=1))
    # a weighted mean of equal values is that value, wherever some pixel is within reach
    for p, c in zip(priors, certainty, strict=True):
        torch.testing.assert_close(p[c > 1e-2], torch.full_like(p[c > 1e-2], 3.5))
    # certainty at a known pixel with sigma=1 is at least its own weight (1)
    assert (certainty[0][known.bool()] >= 1).all()
    # the prior's input channels: 2 + 2 per scale
    assert model.down[0][0].in_channels == 6
    with pytest.raises(ValidationError, match="prior_scales"):
        create_model("conv_masked_ae", prior_scales=(0,))


def test_thin_plate_prior_is_the_output_before_training_corrects_it():
    from magnetar.grids import thin_plate_fill

    model = create_model("conv_masked_ae", base=4, depth=2, thin_plate=(0.05, 0.5)).eval()
    assert model.down[0][0].in_channels == 2 + 2  # values, mask, one channel per weight
    # with the correction head zeroed the network returns the first thin-plate spline
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    rng = torch.Generator().manual_seed(1)
    known = (torch.rand(2, 1, 20, 20, generator=rng) > 0.5).float()
    values = torch.randn(2, 1, 20, 20, generator=rng) * known
    out = model(torch.cat([values, known], dim=1))
    expected = thin_plate_fill(values[:, 0].numpy(), known[:, 0].numpy().astype(bool),
                               smoothing=0.05)
    # NumPy (float64, tight) and in-network (float32, 200 iterations) solves agree
    torch.testing.assert_close(out[:, 0], torch.as_tensor(expected, dtype=torch.float32),
                               atol=5e-3, rtol=0)
    with pytest.raises(ValidationError, match="thin_plate"):
        create_model("conv_masked_ae", thin_plate=(0.0,))
