"""The uniform entry point: READERS / read_dataset over every fixture, with the contract every
PoseSample stream keeps (shapes, dtypes, skeleton, visibility codes)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posekit.data.readers import READERS, read_dataset
from posekit.structures import PoseSample

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"

CASES = [
    ("coco", "coco/test_coco.json", {}, "coco17"),
    ("crowdpose", "crowdpose/test_crowdpose.json", {}, "crowdpose14"),
    ("aic", "aic/test_aic.json", {}, "aic14"),
    ("aic", "aic_eval/keypoint_annotations_example.json", {}, "aic14"),
    ("mpii", "mpii/test_mpii.json", {}, "mpii16"),
    ("mpii", "mpii_eval/valid.h5", {}, "mpii16"),
    ("lsp", "lsp/lsp-joints-OC.mat", {}, "lsp14"),
    ("flic", "flic/flic-joints-oc.mat", {}, "flic"),
    ("h36m", "h36m/test_h36m_body3d.npz", {"cameras": "h36m/cameras.pkl", "trust_pickle": True}, "h36m17"),
    ("h36m", "h36m/test_h36m.npz", {}, "h36m17"),
    ("mpi_inf_3dhp", "mpi_inf_3dhp/test_3dhp_train.npz", {}, "mpi_inf_3dhp17"),
]


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures is absent")
@pytest.mark.parametrize("fmt, rel, kwargs, skeleton", CASES, ids=[c[1] for c in CASES])
def test_every_reader_keeps_the_sample_contract(fmt, rel, kwargs, skeleton):
    kwargs = {k: FIXTURES / v if k == "cameras" else v for k, v in kwargs.items()}
    samples = list(read_dataset(fmt, FIXTURES / rel, image_dir="IMG", **kwargs))
    assert samples
    for s in samples[:200]:
        assert isinstance(s, PoseSample) and s.image is None and s.skeleton.name == skeleton
        n, k = s.keypoints.shape[:2]
        assert k == s.skeleton.num_keypoints and s.keypoints.shape == (n, k, 2) and s.keypoints.dtype == np.float32
        assert s.visibility.shape == (n, k) and s.visibility.dtype == np.uint8
        assert set(np.unique(s.visibility)) <= {0, 1, 2}
        assert s.boxes.shape == (n, 4) and s.boxes.dtype == np.float32
        assert s.ids.shape == (n,)
        assert s.keypoints_3d is None or s.keypoints_3d.shape == (n, k, 3)
        assert s.meta["file"].startswith("IMG/")


def test_unknown_format_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown dataset format 'pascal'; known: \['aic', 'amass', 'coco'"):
        read_dataset("pascal", "x")
    assert set(READERS) == {"coco", "crowdpose", "aic", "mpii", "lsp", "flic", "h36m", "mpi_inf_3dhp", "amass"}
