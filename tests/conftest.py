"""Test-wide settings.

Hypothesis runs derandomized (examples derived from each test's source), so a CI run is
reproducible: set ``POSEKIT_HYPOTHESIS_RANDOM=1`` to explore fresh random examples locally.
"""
import os

from hypothesis import settings

settings.register_profile("posekit", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile("explore" if os.environ.get("POSEKIT_HYPOTHESIS_RANDOM") else "posekit")
