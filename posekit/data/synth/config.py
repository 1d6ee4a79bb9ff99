"""Generator knobs: one ``difficulty`` in [0, 1] sets every knob; any knob can be overridden.

``resolve_knobs(difficulty=0.5, max_people=6)`` returns the full, concrete knob dict that is
recorded in the dataset's ``posekit_synth`` meta block (REFERENCE-SYNTHETIC 4.10).
"""
from __future__ import annotations

DEFAULT_DIFFICULTY = 0.5


def _defaults(d: float) -> dict:
    return {
        "difficulty": d,
        # people and framing
        "max_people": 2 + round(4 * d),             # scene: people per image uniform in 1..max
        "height_frac": [0.35 - 0.2 * d, 0.95],     # scene: person pixel height / image height (log-uniform)
        "single_fill": [0.75, 1.0],                # single: body extent / frame size
        "truncation": 0.3 * d,                     # probability a person may be cut by the border
        "cluster_spread": 0.08 + 0.1 * d,          # scene: lateral spread of people (fraction of the FOV)
        # camera
        "hfov_deg": [35.0, 70.0],
        "elevation_deg": [-5.0, 35.0],             # single: camera elevation above the body centre
        "camera_height_m": [1.0, 2.5],             # scene
        "pitch_deg": [0.0, 20.0],                  # scene: downward pitch
        "roll_sigma_deg": 4.0 + 10.0 * d,
        # occlusion and clutter
        "occluders_scene": 1.2 * d,                # Poisson mean per image
        "occluders_single": 0.6 * d,
        "occluder_size": [0.06, 0.12 + 0.16 * d],  # occluder radius / person pixel height
        "distractors": 1.0 + 4.0 * d,              # Poisson mean of 3D limb-like capsules / blobs
        "clutter": 3.0 + 9.0 * d,                  # Poisson mean of 2D background shapes
        "floor": 0.85,                             # probability of a ground plane under the people
        # bodies and poses
        "child_prob": 0.08 * d,
        "girth_sigma": 0.15,
        "identical_outfits": 0.3 * d,              # probability that all people share one outfit
        # lighting and sensor
        "ambient": [0.6 - 0.35 * d, 0.75],
        "colour_cast": 0.25 * d,
        "blur_sigma_max": 0.3 + 1.2 * d,
        "motion_blur_max_px": int(round(9 * d)),
        "noise_sigma_max": 12.0 * d,               # on the 0..255 scale
        "jpeg_quality": [int(round(95 - 55 * d)), 95],
        "bank_size": 64,                           # cached procedural backgrounds per process
    }


KNOB_NAMES = tuple(_defaults(DEFAULT_DIFFICULTY))


def resolve_knobs(difficulty: float = DEFAULT_DIFFICULTY, **overrides) -> dict:
    """All knobs as concrete values: defaults for ``difficulty`` updated by ``overrides``.

    Raises ValueError naming an unknown knob, or a difficulty outside [0, 1].
    """
    if not 0.0 <= float(difficulty) <= 1.0:
        raise ValueError(f"difficulty must be in [0, 1], got {difficulty}")
    knobs = _defaults(float(difficulty))
    for key, value in overrides.items():
        if key not in knobs:
            raise ValueError(f"unknown synth knob {key!r}; known: {', '.join(KNOB_NAMES)}")
        default = knobs[key]
        if isinstance(default, list):
            value = [type(default[0])(x) for x in value]
            if len(value) != len(default):
                raise ValueError(f"synth knob {key!r} needs {len(default)} values, got {value}")
        else:
            value = type(default)(value)
        knobs[key] = value
    return knobs
