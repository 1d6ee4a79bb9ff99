"""BatchNorm folding: the folded copy computes what the model computes, without the folded norms."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from posekit.models.fold import fold_batchnorm
from posekit.models.zoo import build_model


def count_norms(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def randomise_norm_statistics(model: nn.Module, seed: int = 0) -> nn.Module:
    """Running statistics and affine terms far from the identity, so an unfolded norm shows."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g))
            m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.2)
            if m.affine:
                m.weight.data.copy_(torch.randn(n, generator=g))
                m.bias.data.copy_(torch.randn(n, generator=g))
    return model.eval()


@settings(max_examples=40, deadline=None)
@given(transposed=st.booleans(), groups=st.sampled_from([1, 2]), kernel=st.sampled_from([1, 3]),
       bias=st.booleans(), affine=st.booleans(), seed=st.integers(0, 2**16))
def test_folded_conv_matches_conv_then_norm(transposed, groups, kernel, bias, affine, seed):
    torch.manual_seed(seed)
    conv_type = nn.ConvTranspose2d if transposed else nn.Conv2d
    model = nn.Sequential(conv_type(4, 6, kernel, stride=2 if transposed else 1, groups=groups, bias=bias),
                          nn.BatchNorm2d(6, affine=affine), nn.ReLU())
    randomise_norm_statistics(model, seed)
    x = torch.randn(2, 4, 9, 7)
    folded = fold_batchnorm(model)
    with torch.no_grad():
        assert torch.allclose(folded(x), model(x), atol=1e-5, rtol=1e-4)
    # grouped transposed weights are left alone; everything else loses its norm
    assert count_norms(folded) == (1 if transposed and groups > 1 else 0)


class SharedConv(nn.Module):
    """One convolution called twice, and a norm after a non-convolution: neither may be folded."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn_a = nn.BatchNorm2d(3)
        self.bn_b = nn.BatchNorm2d(3)
        self.bn_c = nn.BatchNorm1d(5)
        self.lin = nn.Linear(3, 5)

    def forward(self, x):
        y = self.bn_a(self.conv(x)) + self.bn_b(self.conv(x).relu())
        return self.bn_c(self.lin(y.mean(dim=(2, 3))))


class ReadsConvOutputTwice(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 3)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x):
        z = self.conv(x)
        return self.bn(z) + z


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        return self.bn(self.conv(x)) if x.sum() > 0 else x


@pytest.mark.parametrize("make, norms_left", [(SharedConv, 3), (ReadsConvOutputTwice, 1), (DataDependent, 1)])
def test_norms_that_cannot_fold_stay(make, norms_left):
    model = randomise_norm_statistics(make())
    x = torch.randn(2, 3, 8, 8) if make is not ReadsConvOutputTwice else torch.randn(2, 2, 10)
    folded = fold_batchnorm(model)
    assert count_norms(folded) == norms_left
    with torch.no_grad():
        assert torch.allclose(folded(x), model(x), atol=1e-5)


def test_the_model_itself_is_untouched():
    model = randomise_norm_statistics(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = fold_batchnorm(model)
    assert folded is not model and count_norms(model) == 1 and count_norms(folded) == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_nothing_to_fold_returns_the_model_itself_and_training_mode_is_refused():
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    assert fold_batchnorm(plain) is plain
    untraceable = randomise_norm_statistics(DataDependent())
    assert fold_batchnorm(untraceable) is untraceable
    with pytest.raises(ValueError, match="training mode"):
        fold_batchnorm(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)))


@pytest.mark.parametrize("arch", ["hrnet_w16_small", "simplebaseline_r18"])
def test_zoo_models_fold_completely(arch):
    model = randomise_norm_statistics(build_model(arch, num_keypoints=17))
    folded = fold_batchnorm(model)
    assert count_norms(model) > 0 and count_norms(folded) == 0
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        expected, got = model(x), folded(x)
    assert float((got - expected).abs().max() / expected.abs().max()) < 1e-5


def test_estimator_runs_the_folded_copy():
    import posekit

    est = posekit.load("posekit_synth_hrnet_w16s_192x144", precision="float32")  # folding is exact in float32
    assert count_norms(est.model) > 0 and count_norms(est.inference_model) == 0
    image = np.random.default_rng(0).integers(0, 255, (160, 120, 3), dtype=np.uint8)
    x = torch.randn(1, 3, 192, 144)
    with torch.no_grad():
        assert torch.allclose(est.inference_model(x), est.model(x), atol=1e-4)
    result = est(image)
    assert result.keypoints.shape == (1, 17, 2) and np.isfinite(result.keypoints).all()
