"""partner_difference_loss and the recipe's ``loss.partner_weight``."""
import pytest
import torch
import yaml

from posekit.engine.trainer import load_config, partner_loss_settings, train, training_loss
from posekit.models.losses import heatmap_mse_loss, partner_difference_loss
from posekit.models.zoo import build_model
from posekit.skeletons import get_skeleton

PAIRS = torch.tensor([[0, 1]])


def blob(x, y, h=6, w=5):
    """(h, w) map that is 1 at (x, y)."""
    m = torch.zeros(h, w)
    m[y, x] = 1.0
    return m


def test_matches_a_direct_sum_and_ignores_pairs_with_an_unlabelled_joint():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.rand(3, 4, 6, 5, generator=g), torch.rand(3, 4, 6, 5, generator=g)
    weight = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 1.0]])
    pairs = torch.tensor([[0, 1], [3, 2]])
    total = 0.0
    for b in range(3):
        for a, c in pairs.tolist():
            d = (pred[b, a] - pred[b, c]) - (target[b, a] - target[b, c])
            total += weight[b, a] * weight[b, c] * (d ** 2).sum()
    expected = 0.5 * total / pred.numel()
    assert torch.allclose(partner_difference_loss(pred, target, weight, pairs), expected)
    # the order within a pair does not matter
    assert torch.allclose(partner_difference_loss(pred, target, weight, pairs.flip(1)), expected)


def test_is_zero_for_exact_or_equally_shifted_maps_and_positive_for_collapsed_partners():
    target = torch.stack([blob(1, 1), blob(3, 4)])[None]          # left knee at (1,1), right at (3,4)
    weight = torch.ones(1, 2)
    assert partner_difference_loss(target, target, weight, PAIRS) == 0
    # both channels off by the same map: the difference is still right
    assert partner_difference_loss(target + 0.25, target, weight, PAIRS) == 0
    collapsed = torch.stack([blob(1, 1), blob(1, 1)])[None]        # both knees predicted at the left one
    assert partner_difference_loss(collapsed, target, weight, PAIRS) > 0


def test_adds_two_lambda_to_the_quarter_weight_of_the_antisymmetric_error():
    """MSE of a pair = 1/4 (symmetric error)^2 + 1/4 (antisymmetric error)^2 (per pixel, before the
    mean): the partner term adds lambda/2 to the antisymmetric weight only."""
    g = torch.Generator().manual_seed(1)
    pred, target = torch.rand(2, 2, 6, 5, generator=g), torch.rand(2, 2, 6, 5, generator=g)
    weight = torch.ones(2, 2)
    e = pred - target
    sym, anti = e[:, 0] + e[:, 1], e[:, 0] - e[:, 1]
    mse = heatmap_mse_loss(pred, target, weight)
    assert torch.allclose(mse, 0.5 * (0.5 * sym ** 2 + 0.5 * anti ** 2).sum() / e.numel())
    lam = 3.0
    combined = mse + lam * partner_difference_loss(pred, target, weight, PAIRS)
    assert torch.allclose(combined, (0.25 * sym ** 2 + (0.25 + lam / 2) * anti ** 2).sum() / e.numel())


def test_training_loss_adds_the_weighted_partner_term():
    model = torch.nn.Conv2d(3, 2, 1)
    x, target, weight = torch.randn(2, 3, 4, 4), torch.rand(2, 2, 4, 4), torch.ones(2, 2)
    plain = training_loss(model, x, target, weight)
    out = model(x)
    assert torch.allclose(training_loss(model, x, target, weight, PAIRS, 2.0),
                          plain + 2.0 * partner_difference_loss(out, target, weight, PAIRS))
    assert torch.allclose(training_loss(model, x, target, weight, PAIRS, 0.0), plain)


def test_recipe_settings_use_the_skeletons_flip_pairs_and_check_their_values():
    skeleton = get_skeleton("coco17")
    model = torch.nn.Conv2d(3, 17, 1)
    pairs, weight = partner_loss_settings({"loss": {"partner_weight": 2}}, model, skeleton)
    assert weight == 2.0 and pairs.tolist() == [list(p) for p in skeleton.flip_pairs] and len(pairs) == 8
    assert partner_loss_settings({}, model, skeleton)[1] == 0.0
    with pytest.raises(ValueError, match=r"r\.yaml: unknown key\(s\) partner_wieght in 'loss'"):
        partner_loss_settings({"_path": "r.yaml", "loss": {"partner_wieght": 2}}, model, skeleton)
    with pytest.raises(ValueError, match="partner_weight must be >= 0"):
        partner_loss_settings({"loss": {"partner_weight": -1}}, model, skeleton)
    regression = build_model("deeppose_alexnet", num_keypoints=17)
    with pytest.raises(ValueError, match="has its own loss"):
        partner_loss_settings({"arch": "deeppose_alexnet", "loss": {"partner_weight": 1}}, regression, skeleton)


def test_a_recipe_with_partner_weight_trains(tmp_path):
    from tests.test_trainer import recipe

    path = recipe(tmp_path, epochs=1)
    cfg = yaml.safe_load(path.read_text())
    cfg["loss"] = {"partner_weight": 4.0}
    path.write_text(yaml.safe_dump(cfg))
    train(load_config(path), tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "log.jsonl").read_text().count("\n") == 1
