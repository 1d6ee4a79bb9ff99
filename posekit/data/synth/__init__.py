"""The synthetic human-pose benchmark generator (``posekit synth``).

* :func:`render_sample` - one (image, annotations) pair from (seed, index), for data loaders.
* :func:`synthesize` - the same with per-image info (camera, seed) and optional JPEG bytes.
* :func:`generate` - write a COCO person-keypoints dataset with 3D extras to a directory.
"""
from .config import resolve_knobs
from .points import COCO17_NAMES, POINT_NAMES
from .scene import GENERATOR_VERSION, MODES, SynthSample, render_sample, synthesize
from .writer import generate

__all__ = ["COCO17_NAMES", "GENERATOR_VERSION", "MODES", "POINT_NAMES", "SynthSample", "generate",
           "render_sample", "resolve_knobs", "synthesize"]
