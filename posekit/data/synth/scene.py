"""Compose one synthetic image from (seed, index): people, camera, occluders, distractors,
background, lighting and sensor effects; then derive the annotations.

Modes:
  * ``single``: one person; the camera looks at the body centre from a random azimuth and
    elevation, at the distance where the body's projected extent fills ``single_fill`` of the
    frame; the person is centred by shifting the principal point (recorded in ``cam_K``).
  * ``scene``: a camera-first layout (camera height and downward pitch), 1..``max_people``
    people with log-uniform pixel heights, clustered laterally so that they overlap, at least
    0.5 m apart on the ground; truncated people are kept with probability ``truncation``.

Image ``index`` of dataset ``seed`` uses only ``np.random.default_rng([seed, index])`` plus the
background bank of ``seed``, so it is independent of the order and process that makes it.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .annotate import person_annotation, visibility
from .background import background_crop, draw_clutter, draw_floor
from .body import BodyModel, build_body, sample_body
from .camera import Camera, intrinsics, look_at
from .config import resolve_knobs
from .kinematics import axis_rotation, lowest_surface_y
from .pose import PoseSample, sample_pose
from .render import NEAR, Light, Primitives, continuous_bboxes, render
from .textures import Material, random_colour, random_pattern, sample_outfit, skin_tone

GENERATOR_VERSION = "1.0.0"
MODES = ("single", "scene")
MIN_GROUND_SEPARATION_M = 0.5


@dataclass
class Person:
    """A placed person. World-frame geometry: points (30, 3), part_centers (P, 3),
    part_rotations (P, 3, 3), part_radii (P, 3)."""

    body: BodyModel
    pose: PoseSample
    outfit: dict[str, Material]
    yaw: float
    position: np.ndarray
    points: np.ndarray
    part_centers: np.ndarray
    part_rotations: np.ndarray
    part_radii: np.ndarray


@dataclass
class SynthSample:
    """One rendered sample. image: (H, W, 3) uint8 RGB; annotations: COCO person dicts
    (without ``id``/``image_id``) with extras; info: per-image fields (camera, seed, ...);
    jpeg: the encoded image when requested."""

    image: np.ndarray
    annotations: list[dict]
    info: dict
    jpeg: bytes | None = None


def _place(body: BodyModel, pose: PoseSample, outfit: dict[str, Material], yaw: float,
           ground_xz: tuple[float, float]) -> Person:
    """Stand the posed body on y = 0 (lowest surface point), rotate by ``yaw`` about y and
    move it to ``ground_xz``."""
    posed = pose.posed
    Ry = axis_rotation("y", yaw)
    offset = np.array([ground_xz[0], -lowest_surface_y(posed), ground_xz[1]])
    return Person(body, pose, outfit, yaw, offset,
                  posed.points @ Ry.T + offset,
                  posed.part_centers @ Ry.T + offset,
                  np.einsum("ij,pjk->pik", Ry, posed.part_rotations),
                  posed.part_radii)


def _new_person(rng: np.random.Generator, knobs: dict, outfit: dict[str, Material] | None) -> tuple[BodyModel, PoseSample, dict]:
    body = build_body(sample_body(rng, knobs["child_prob"], knobs["girth_sigma"]))
    pose = sample_pose(rng, body, knobs["difficulty"])
    return body, pose, (sample_outfit(rng) if outfit is None else outfit)


def _extent(cam: Camera, person: Person) -> tuple[float, float, float, float] | None:
    """Continuous image extent (xmin, xmax, ymin, ymax) of the person's parts; None when a
    part reaches closer than the near plane."""
    centers = cam.to_camera(person.part_centers)
    axes = np.einsum("ij,pjk->pik", cam.R, person.part_rotations) * person.part_radii[:, None, :]
    b, ok = continuous_bboxes(cam.K, centers, axes)
    if not ok.all():
        return None
    return float(b[:, 0].min()), float(b[:, 1].max()), float(b[:, 2].min()), float(b[:, 3].max())


def _surface_aabb(person: Person) -> tuple[np.ndarray, np.ndarray]:
    ext = np.sqrt(np.einsum("pij,pj->pi", person.part_rotations ** 2, person.part_radii ** 2))
    return (person.part_centers - ext).min(axis=0), (person.part_centers + ext).max(axis=0)


def _single_layout(rng: np.random.Generator, knobs: dict, width: int, height: int) -> tuple[Camera, list[Person]]:
    body, pose, outfit = _new_person(rng, knobs, None)
    person = _place(body, pose, outfit, float(rng.uniform(0, 2 * np.pi)), (0.0, 0.0))
    lo, hi = _surface_aabb(person)
    target = 0.5 * (lo + hi)
    hfov = rng.uniform(*knobs["hfov_deg"])
    K = intrinsics(width, height, hfov)
    az = rng.uniform(0, 2 * np.pi)
    el = np.deg2rad(rng.uniform(*knobs["elevation_deg"]))
    roll = np.deg2rad(rng.normal(0.0, knobs["roll_sigma_deg"]))
    direction = np.array([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])
    truncated = bool(rng.random() < knobs["truncation"])
    fill = rng.uniform(*knobs["single_fill"]) * (rng.uniform(1.0, 1.3) if truncated else 1.0)
    dist = 3.0
    ext = None
    for _ in range(4):
        R, t = look_at(target + dist * direction, target, roll)
        ext = _extent(Camera(K, R, t, width, height), person)
        if ext is None:
            dist *= 1.5
            continue
        ratio = max((ext[1] - ext[0]) / width, (ext[3] - ext[2]) / height)
        dist *= ratio / fill
    R, t = look_at(target + dist * direction, target, roll)
    ext = _extent(Camera(K, R, t, width, height), person)
    jitter = rng.normal(0.0, 0.15 if truncated else 0.03, 2) * (width, height)
    K = K.copy()
    if ext is not None:
        K[0, 2] += (width - 1) / 2 + jitter[0] - 0.5 * (ext[0] + ext[1])
        K[1, 2] += (height - 1) / 2 + jitter[1] - 0.5 * (ext[2] + ext[3])
    return Camera(K, R, t, width, height), [person]


def _scene_layout(rng: np.random.Generator, knobs: dict, width: int, height: int) -> tuple[Camera, list[Person]]:
    hfov = rng.uniform(*knobs["hfov_deg"])
    K = intrinsics(width, height, hfov, tuple(rng.normal(0.0, 0.01, 2) * (width, height)))
    eye = np.array([0.0, rng.uniform(*knobs["camera_height_m"]), 0.0])
    pitch = np.deg2rad(rng.uniform(*knobs["pitch_deg"]))
    roll = np.deg2rad(rng.normal(0.0, 0.5 * knobs["roll_sigma_deg"]))
    R, t = look_at(eye, eye + np.array([0.0, -np.sin(pitch), np.cos(pitch)]), roll)
    cam = Camera(K, R, t, width, height)
    half_fov = np.deg2rad(hfov) / 2
    n = int(rng.integers(1, knobs["max_people"] + 1))
    phi0 = rng.uniform(-0.6, 0.6) * half_fov
    shared = sample_outfit(rng) if (n > 1 and rng.random() < knobs["identical_outfits"]) else None
    lo, hi = np.log(knobs["height_frac"][0]), np.log(knobs["height_frac"][1])
    people: list[Person] = []
    for _ in range(n):
        body, pose, outfit = _new_person(rng, knobs, shared)
        yaw = float(rng.uniform(0, 2 * np.pi))
        for _attempt in range(8):
            frac = np.exp(rng.uniform(lo, hi))
            dist = K[1, 1] * body.stature / (frac * height)
            phi = np.clip(phi0 + rng.normal(0.0, knobs["cluster_spread"] * 2 * half_fov), -0.9 * half_fov, 0.9 * half_fov)
            xz = (dist * np.tan(phi), dist)
            if any(np.hypot(xz[0] - p.position[0], xz[1] - p.position[2]) < MIN_GROUND_SEPARATION_M for p in people):
                continue
            person = _place(body, pose, outfit, yaw, xz)
            ext = _extent(cam, person)
            if ext is None or ext[1] < 0 or ext[0] > width - 1 or ext[3] < 0 or ext[2] > height - 1:
                continue
            cut = ext[0] < -0.5 or ext[1] > width - 0.5 or ext[2] < -0.5 or ext[3] > height - 0.5
            if cut and rng.random() >= knobs["truncation"]:
                continue
            people.append(person)
            break
    if not people:  # guarantee one person: mid-size, centred laterally, truncation allowed
        body, pose, outfit = _new_person(rng, knobs, shared)
        dist = K[1, 1] * body.stature / (0.5 * height)
        people.append(_place(body, pose, outfit, float(rng.uniform(0, 2 * np.pi)), (0.0, dist)))
    return cam, people


def _footprints(people: list[Person]) -> list[tuple[float, float, float]]:
    """Ground contact shadows (x, z, radius): under the lowest part of each person."""
    out = []
    for p in people:
        low = p.part_centers[np.argsort(p.part_centers[:, 1])[:4]]
        if low[:, 1].min() < 0.3:
            out.append((float(low[:, 0].mean()), float(low[:, 2].mean()), 0.3 * p.body.stature / 1.7))
    return out


def _add_people(prims: Primitives, cam: Camera, people: list[Person]) -> None:
    for p_idx, person in enumerate(people):
        centers = cam.to_camera(person.part_centers)
        rots = np.einsum("ij,pjk->pik", cam.R, person.part_rotations)
        for k, part in enumerate(person.body.parts):
            prims.add_ellipsoid(centers[k], rots[k], person.part_radii[k], part.axis,
                                person.outfit[part.material], person=p_idx, part=k)


def _scenery_material(rng: np.random.Generator) -> Material:
    if rng.random() < 0.25:
        c = skin_tone(rng)
        return Material("solid", c, c, specular=0.1)
    if rng.random() < 0.5:
        return random_pattern(rng)
    c = random_colour(rng)
    return Material("flat", c, c, specular=float(rng.uniform(0, 0.5)))


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _add_occluders(rng: np.random.Generator, prims: Primitives, cam: Camera, people: list[Person],
                   rate: float, size: list[float]) -> int:
    """Poisson(``rate``) ellipsoids / capsules on camera->joint rays at 55-85 % of the joint
    depth, sized relative to the person's pixel height. Returns the number added."""
    count = int(rng.poisson(rate))
    added = 0
    for _ in range(count):
        person = people[int(rng.integers(len(people)))]
        pts = cam.to_camera(person.points)
        joint = pts[int(rng.integers(len(pts)))]
        if joint[2] < 4 * NEAR:
            continue
        k = rng.uniform(0.55, 0.85)
        centre = joint * k
        px_height = cam.focal * person.body.stature / max(joint[2], NEAR)
        radius = rng.uniform(*size) * px_height * centre[2] / cam.focal
        radius = min(radius, 0.8 * (centre[2] - NEAR))
        mat = _scenery_material(rng)
        if rng.random() < 0.7:
            radii = radius * rng.uniform(0.5, 1.5, 3)
            prims.add_ellipsoid(centre, _random_rotation(rng), radii, int(np.argmax(radii)), mat)
        else:
            d = _random_rotation(rng)[:, 0] * radius * rng.uniform(1.5, 4.0)
            prims.add_capsule(centre - d, centre + d, radius * rng.uniform(0.3, 0.6), mat)
        added += 1
    return added


def _add_distractors(rng: np.random.Generator, prims: Primitives, cam: Camera, people: list[Person],
                     rate: float) -> int:
    """Poisson(``rate``) limb-like capsules and blobs behind the people."""
    far = max(float(cam.to_camera(p.points)[:, 2].max()) for p in people)
    count = int(rng.poisson(rate))
    for _ in range(count):
        z = far + 0.6 + rng.uniform(0.0, 0.8) * far
        px = rng.uniform(0, cam.width)
        py = rng.uniform(0, cam.height)
        centre = np.array([(px - cam.K[0, 2]) / cam.K[0, 0] * z, (py - cam.K[1, 2]) / cam.K[1, 1] * z, z])
        mat = _scenery_material(rng)
        if rng.random() < 0.65:  # limb-like capsule
            half = rng.uniform(0.1, 0.3)
            d = _random_rotation(rng)[:, 0] * half
            prims.add_capsule(centre - d, centre + d, rng.uniform(0.025, 0.075), mat)
        else:
            radii = rng.uniform(0.05, 0.3, 3)
            prims.add_ellipsoid(centre, _random_rotation(rng), radii, int(np.argmax(radii)), mat)
    return count


def _light(rng: np.random.Generator, knobs: dict) -> Light:
    direction = np.array([rng.normal(0, 0.6), -rng.uniform(0.1, 1.0), -rng.uniform(0.3, 1.0)])
    direction /= np.linalg.norm(direction)
    cast = 1.0 + knobs["colour_cast"] * rng.normal(0, 1, 3)
    cast = np.clip(cast / cast.mean(), 0.5, 1.5) * rng.uniform(0.85, 1.15)
    return Light(direction, cast.astype(np.float32), float(rng.uniform(*knobs["ambient"])),
                 float(rng.uniform(8, 40)))


def _degrade(rng: np.random.Generator, rgb: np.ndarray, knobs: dict) -> np.ndarray:
    """Blur (Gaussian, optional motion) and sensor noise; returns uint8."""
    sigma = rng.uniform(0.3, max(0.3, knobs["blur_sigma_max"]))
    rgb = cv2.GaussianBlur(rgb, (0, 0), sigma)
    mb = knobs["motion_blur_max_px"]
    if mb >= 3 and rng.random() < 0.3 * knobs["difficulty"]:
        length = int(rng.integers(3, mb + 1))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), float(rng.uniform(0, 180)), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (length, length))
        rgb = cv2.filter2D(rgb, -1, kernel / max(kernel.sum(), 1e-6))
    out = np.multiply(rgb, np.float32(255.0), dtype=np.float32)
    noise = rng.uniform(0.0, knobs["noise_sigma_max"])
    if noise > 0.5:  # sensor noise, mostly luminance (one field shared by the channels)
        out += (rng.standard_normal(out.shape[:2], dtype=np.float32) * np.float32(noise))[..., None]
    out += np.float32(0.5)
    np.clip(out, 0.0, 255.0, out=out)
    return out.astype(np.uint8)


def parse_size(size: int | tuple[int, int] | str) -> tuple[int, int]:
    """Image size as (width, height) from an int (square), a (W, H) pair or ``"WxH"``."""
    if isinstance(size, str):
        parts = size.lower().split("x")
        size = (int(parts[0]), int(parts[1])) if len(parts) == 2 else int(parts[0])
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    w, h = (int(s) for s in size)
    if w < 16 or h < 16:
        raise ValueError(f"image size must be at least 16x16, got {w}x{h}")
    return w, h


def synthesize(seed: int, index: int, mode: str = "single", size: int | tuple[int, int] | str = 256,
               encode_jpeg: bool = False, **knobs) -> SynthSample:
    """Render image ``index`` of dataset ``seed`` and its annotations (see module docstring).

    ``knobs`` override :func:`posekit.data.synth.config.resolve_knobs` (``difficulty`` too).
    With ``encode_jpeg`` the JPEG bytes (quality drawn per image) are returned as well.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    width, height = parse_size(size)
    k = resolve_knobs(**knobs)
    rng = np.random.default_rng([seed, index])
    if mode == "single":
        cam, people = _single_layout(rng, k, width, height)
        occ_rate, occ_size = k["occluders_single"], [s * 0.6 for s in k["occluder_size"]]
    else:
        cam, people = _scene_layout(rng, k, width, height)
        occ_rate, occ_size = k["occluders_scene"], k["occluder_size"]
    prims = Primitives()
    _add_people(prims, cam, people)
    n_occ = _add_occluders(rng, prims, cam, people, occ_rate, occ_size)
    n_dis = _add_distractors(rng, prims, cam, people, k["distractors"])
    background = background_crop(rng, seed, width, height, k["bank_size"])
    has_floor = rng.random() < k["floor"] and draw_floor(rng, background, cam.K, cam.R, cam.t, _footprints(people))
    draw_clutter(rng, background, int(rng.poisson(k["clutter"])))
    out = render(prims, cam.K, width, height, _light(rng, k), background)
    image = _degrade(rng, out.rgb, k)
    quality = int(rng.integers(k["jpeg_quality"][0], k["jpeg_quality"][1] + 1))

    person_buf = prims.person_of_owner()[out.owner]
    annotations = []
    for p_idx, person in enumerate(people):
        mask = person_buf == p_idx
        if not mask.any():
            continue  # fully hidden or outside the image: not annotated
        pts = cam.to_camera(person.points)
        uv = cam.project(pts)
        vis = visibility(pts, person.body.point_radius, uv, out.depth)
        ann = person_annotation(mask, pts, uv, vis, _extent(cam, person) or (0.0, 0.0, 0.0, 0.0))
        ann["person_index"] = p_idx
        ann["body"] = {**person.body.shape.to_json(), "stature": round(person.body.stature, 4),
                       **person.pose.to_json(), "yaw": round(person.yaw, 5),
                       "position": np.round(person.position, 5).tolist()}
        annotations.append(ann)
    info = {"width": width, "height": height, **cam.to_json(), "seed": int(seed), "index": int(index),
            "mode": mode, "num_people": len(people), "num_occluders": n_occ, "num_distractors": n_dis,
            "jpeg_quality": quality, "floor": bool(has_floor)}
    jpeg = None
    if encode_jpeg:
        ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for image {index} of seed {seed}")
        jpeg = buf.tobytes()
    return SynthSample(image, annotations, info, jpeg)


def render_sample(seed: int, index: int, mode: str = "single", size: int | tuple[int, int] | str = 256,
                  jpeg: bool = True, **knobs) -> tuple[np.ndarray, list[dict]]:
    """On-the-fly API for data loaders: (image (H, W, 3) uint8 RGB, person annotations).

    With ``jpeg`` (default) the image goes through the same JPEG round trip as the files
    written by ``posekit synth``, so both give identical pixels.
    """
    s = synthesize(seed, index, mode, size, encode_jpeg=jpeg, **knobs)
    if s.jpeg is None:
        return s.image, s.annotations
    img = cv2.imdecode(np.frombuffer(s.jpeg, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    return np.ascontiguousarray(img), s.annotations
