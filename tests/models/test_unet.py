import numpy as np
import pytest

torch = pytest.importorskip("torch")

from magnetar.errors import ValidationError  # noqa: E402
from magnetar.models import create_model  # noqa: E402


def test_unet_keeps_native_size_and_initialisers_have_their_spread():
    model = create_model("unet", base=4, depth=3, dropout=0.0).eval()
    assert model(torch.randn(2, 1, 37, 45)).shape == (2, 1, 37, 45)
    for init, std in (("he_normal", lambda fan_in, fan_out: (2 / fan_in) ** 0.5),
                      ("glorot_uniform", lambda fan_in, fan_out: (2 / (fan_in + fan_out)) ** 0.5),
                      ("lecun_normal", lambda fan_in, fan_out: (1 / fan_in) ** 0.5)):
        torch.manual_seed(0)
        conv = create_model("unet", base=32, depth=1, init=init).down[1][0]
        fan_in = conv.in_channels * 9
        fan_out = conv.out_channels * 9
        measured = float(conv.weight.detach().std())
        # truncated normal at 2 sigma has std 0.88 sigma; uniform's std is its target
        factor = 0.88 if init.endswith("normal") else 1.0
        assert measured == pytest.approx(factor * std(fan_in, fan_out), rel=0.05)
    w = create_model("unet", base=8, depth=1, init="orthogonal").down[0][0].weight
    flat = w.reshape(w.shape[0], -1)
    np.testing.assert_allclose((flat @ flat.T).detach().numpy(), np.eye(8), atol=1e-5)
    with pytest.raises(ValidationError, match="init"):
        create_model("unet", init="zeros")
