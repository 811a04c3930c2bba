import pytest

torch = pytest.importorskip("torch")

from magnetar.errors import ValidationError  # noqa: E402
from magnetar.models import create_model, list_models  # noqa: E402


@pytest.mark.parametrize("name", list_models())
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
