"""posekit: human pose estimation toolkit.

Importing ``posekit`` is cheap: torch and the models are imported only when a
function that needs them is called (``posekit.load``), so metric and data
commands start fast.
"""
from __future__ import annotations

__version__ = "0.1.0"


def load(name_or_checkpoint: str, weights: str | None = None, **kwargs):
    """Return a ready-to-call pose estimator.

    ``name_or_checkpoint`` is a zoo name (see ``posekit zoo``) or a path to a
    checkpoint written by ``posekit train``. ``weights`` overrides the weights
    file of a zoo entry. See :func:`posekit.estimators.topdown.load_topdown`.
    """
    from posekit.estimators.topdown import load_topdown

    return load_topdown(name_or_checkpoint, weights=weights, **kwargs)
