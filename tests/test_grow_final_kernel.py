"""grow_final_kernel: a 1x1 final layer widened to k x k keeps the network's function at std 0."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from posekit.models.checkpoints import load_checkpoint, read_state_dict, save_safetensors
from posekit.models.heads.heatmap import grow_final_kernel
from posekit.models.zoo import build_model

ROOT = Path(__file__).resolve().parents[1]


def tiny_hrnet(final_kernel=1):
    torch.manual_seed(0)
    return build_model("hrnet_w16_small", num_keypoints=5, width=8, final_kernel=final_kernel).eval()


def test_centre_taps_alone_compute_the_same_heatmaps():
    small = tiny_hrnet()
    state = grow_final_kernel(small.state_dict(), 3, std=0.0)
    assert state["final_layer.weight"].shape == (5, 8, 3, 3)
    wide = load_checkpoint(tiny_hrnet(final_kernel=3), state, strict=True)
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        assert torch.allclose(small(x), wide(x), atol=1e-6)


def test_new_taps_are_seeded_random_and_the_centre_is_kept():
    weight = torch.randn(4, 6, 1, 1)
    a = grow_final_kernel({"final_layer.weight": weight}, 5, std=0.01, seed=3)["final_layer.weight"]
    b = grow_final_kernel({"final_layer.weight": weight}, 5, std=0.01, seed=3)["final_layer.weight"]
    c = grow_final_kernel({"final_layer.weight": weight}, 5, std=0.01, seed=4)["final_layer.weight"]
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a[:, :, 2:3, 2:3], weight)
    outer = torch.cat([a[:, :, :2].flatten(), a[:, :, 3:].flatten()])
    assert 0.007 < outer.std().item() < 0.013


def test_bad_kernel_sizes_are_refused():
    weight = {"final_layer.weight": torch.zeros(2, 2, 3, 3)}
    with pytest.raises(ValueError, match="final_layer.weight: kernel_size must be odd and >= the current 3, got 4"):
        grow_final_kernel(weight, 4)
    with pytest.raises(ValueError, match="got 1"):
        grow_final_kernel(weight, 1)


def test_script_writes_a_loadable_file_and_names_a_bad_source(tmp_path):
    src = tmp_path / "small.safetensors"
    save_safetensors(tiny_hrnet().state_dict(), src)
    out = tmp_path / "wide.safetensors"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "grow_final_kernel.py"), str(src), str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert read_state_dict(out)["final_layer.weight"].shape == (5, 8, 3, 3)
    load_checkpoint(tiny_hrnet(final_kernel=3), out, strict=True)
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "grow_final_kernel.py"),
                          str(tmp_path / "missing"), str(out)], capture_output=True, text=True)
    assert bad.returncode == 2 and "missing" in bad.stderr
