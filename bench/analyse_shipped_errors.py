"""Where the shipped model loses OKS AP: per-keypoint similarity, gross errors and left/right swaps.

On the shipped-model benchmark's validation set (fresh synthetic `single`, seed 424242, GT boxes),
each labelled keypoint's OKS term ``exp(-d^2 / (2 s^2 k^2))`` (s^2 = GT area, k = 2 sigma) is split by
COCO visibility (2 visible, 1 occluded); a *gross* error is a term below 0.2; a *swap* is a gross
error whose prediction lies at under half that distance from the opposite side's GT joint. The
"swap oracle" AP re-evaluates after swapping each left/right pair wherever that raises the pair's
OKS terms: the AP left on the table by left/right confusion alone. Per left/right pair, the share
of people whose two predictions *collapse* onto one point (the other point missed), and the AP
with that pair predicted exactly (an oracle).

    python bench/analyse_shipped_errors.py [--model NAME] [--num 500] [--seed 424242]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info  # noqa: E402

import posekit  # noqa: E402
from posekit.engine.evaluate import predict_with_gt_boxes  # noqa: E402
from posekit.engine.trainer import resolve_split  # noqa: E402
from posekit.metrics.coco_eval import evaluate_coco_keypoints, load_coco_gt  # noqa: E402


def oks_terms(pred: np.ndarray, gt: np.ndarray, area: float, sigmas: np.ndarray) -> np.ndarray:
    """Per-keypoint OKS terms (K,) of ``pred`` (K, 2) against ``gt`` (K, 2), image pixels."""
    d2 = ((pred - gt) ** 2).sum(axis=1)
    return np.exp(-d2 / (2 * area * (2 * sigmas) ** 2 + np.spacing(1)))


def swap_share(is_swap: np.ndarray) -> float | None:
    """Fraction of gross errors that are left/right swaps; None where there is no gross error."""
    return float(is_swap.mean()) if len(is_swap) else None


def share_text(share: float | None, spec: str) -> str:
    """A share formatted with ``spec``, or "-" where there was nothing to count."""
    return "-" if share is None else format(share, spec)


def pair_diagnostics(i: int, j: int, results: list, gt_by_image: dict, gt, sigmas: np.ndarray) -> dict:
    """For the left/right pair ``(i, j)``: how often its two predictions collapse onto one point,
    and the OKS AP with both replaced by the ground truth."""
    both = collapsed = 0
    exact = []
    for r in results:
        pred = np.array(r["keypoints"], float).reshape(-1, 3)
        a = gt_by_image.get(r["image_id"])
        if a is not None:
            g = np.array(a["keypoints"], float).reshape(-1, 3)
            if g[i, 2] > 0 and g[j, 2] > 0:
                scale = np.sqrt(a["area"])
                both += 1
                collapsed += bool(np.hypot(*(pred[i, :2] - pred[j, :2])) < 0.05 * scale
                                  and np.hypot(*(g[i, :2] - g[j, :2])) > 0.15 * scale)
            pred[[i, j], :2] = g[[i, j], :2]
        exact.append({**r, "keypoints": pred.ravel().tolist()})
    return {"both_labelled": both, "collapsed": collapsed / max(both, 1),
            "ap_if_exact": evaluate_coco_keypoints(gt, exact, sigmas=sigmas)["AP"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="posekit_synth_hrnet_w16s_192x144")
    parser.add_argument("--num", type=int, default=500)
    parser.add_argument("--seed", type=int, default=424242)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "shipped_model_errors"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    est = posekit.load(args.model)
    ann_file, image_dir = resolve_split({"synth": {"mode": "single", "num": args.num, "seed": args.seed,
                                                   "size": 256, "workers": 2}})
    results = predict_with_gt_boxes(est, ann_file, image_dir)
    sk, sigmas = est.skeleton, est.skeleton.sigmas_array
    gt_json = json.loads(Path(ann_file).read_text())
    gt_by_image = {a["image_id"]: a for a in gt_json["annotations"] if a["num_keypoints"] > 0}
    pairs = sorted({tuple(sorted((i, j))) for i, j in enumerate(sk.flip_indices) if i != j})

    rows, swapped_results = [], []
    for r in results:
        pred = np.array(r["keypoints"], float).reshape(-1, 3)
        a = gt_by_image.get(r["image_id"])
        if a is None:  # single mode: one labelled person per image
            swapped_results.append(r)
            continue
        g = np.array(a["keypoints"], float).reshape(-1, 3)
        terms = oks_terms(pred[:, :2], g[:, :2], a["area"], sigmas)
        for k in np.flatnonzero(g[:, 2] > 0):
            opposite = sk.flip_indices[k]
            d_own = np.hypot(*(pred[k, :2] - g[k, :2]))
            d_opp = np.hypot(*(pred[k, :2] - g[opposite, :2])) if g[opposite, 2] > 0 else np.inf
            rows.append((k, g[k, 2], terms[k], terms[k] < 0.2 and d_opp < 0.5 * d_own))
        fixed = pred.copy()
        for i, j in pairs:
            t = oks_terms(fixed[[j, i], :2], g[[i, j], :2], a["area"], sigmas[[i, j]]) * (g[[i, j], 2] > 0)
            if t.sum() > (terms[[i, j]] * (g[[i, j], 2] > 0)).sum():
                fixed[[i, j]] = fixed[[j, i]]
        swapped_results.append({**r, "keypoints": fixed.ravel().tolist()})
    table = np.array(rows, dtype=float)
    gt = load_coco_gt(ann_file, num_keypoints=len(sigmas))
    ap = evaluate_coco_keypoints(gt, results, sigmas=sigmas)["AP"]
    ap_oracle = evaluate_coco_keypoints(gt, swapped_results, sigmas=sigmas)["AP"]

    pair_rows = [pair_diagnostics(i, j, results, gt_by_image, gt, sigmas) for i, j in pairs]

    per_kp = []
    for k, name in enumerate(sk.names):
        m = table[:, 0] == k
        vis, occ = m & (table[:, 1] == 2), m & (table[:, 1] == 1)
        per_kp.append({"keypoint": name, "sigma": float(sigmas[k]), "occluded_fraction": float(occ.sum() / m.sum()),
                       "oks_term_visible": float(table[vis, 2].mean()), "oks_term_occluded": float(table[occ, 2].mean()),
                       "gross_visible": float((table[vis, 2] < 0.2).mean()),
                       "gross_occluded": float((table[occ, 2] < 0.2).mean()),
                       "swaps_among_gross": swap_share(table[m & (table[:, 2] < 0.2), 3])})
    vis, occ = table[:, 1] == 2, table[:, 1] == 1
    info = machine_info()
    summary = {"command": "python bench/analyse_shipped_errors.py " + " ".join(sys.argv[1:]), "machine": info,
               "model": args.model, "AP": ap, "AP_swap_oracle": ap_oracle,
               "labelled_keypoints": int(len(table)), "occluded_fraction": float(occ.mean()),
               "oks_term_visible": float(table[vis, 2].mean()), "oks_term_occluded": float(table[occ, 2].mean()),
               "gross_fraction": float((table[:, 2] < 0.2).mean()),
               "swaps_among_gross": swap_share(table[table[:, 2] < 0.2, 3]), "per_keypoint": per_kp,
               "pairs": [{"pair": [sk.names[i], sk.names[j]], **row} for (i, j), row in zip(pairs, pair_rows)]}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [f"# Where `{args.model}` loses OKS AP", "", f"Command: `{summary['command']}`  ",
             f"Date: {info['date']}  ", f"Machine: {info['cpu']}, {info['cores']} cores", "",
             f"Validation: synthetic `single`, {args.num} images, seed {args.seed}, GT boxes "
             f"({len(table)} labelled keypoints, {occ.mean():.1%} occluded).", "",
             f"- OKS AP {ap:.4f}; with every left/right pair swapped wherever that helps (an oracle): "
             f"{ap_oracle:.4f}.",
             f"- Mean OKS term: visible {summary['oks_term_visible']:.3f}, occluded {summary['oks_term_occluded']:.3f}.",
             f"- Gross errors (term < 0.2): {summary['gross_fraction']:.1%} of keypoints; "
             f"{share_text(summary['swaps_among_gross'], '.0%')} of them are left/right swaps.", "",
             "| keypoint | sigma | occluded | OKS term visible | OKS term occluded | gross visible "
             "| gross occluded | swaps among gross |", "|" + "---|" * 8]
    lines += [f"| {p['keypoint']} | {p['sigma']:.3f} | {p['occluded_fraction']:.2f} | {p['oks_term_visible']:.3f} "
              f"| {p['oks_term_occluded']:.3f} | {p['gross_visible']:.3f} | {p['gross_occluded']:.3f} "
              f"| {share_text(p['swaps_among_gross'], '.2f')} |" for p in per_kp]
    lines += ["", "Left/right pairs. *Collapsed*: both predictions within 0.05 sqrt(area) of each other while the "
              "two labelled points are more than 0.15 sqrt(area) apart (one point predicted twice, the other "
              "missed). *AP if exact*: OKS AP with this pair's predictions replaced by the ground truth (an oracle).",
              "", "| pair | people with both labelled | collapsed | AP if exact |", "|---|---|---|---|"]
    lines += [f"| {p['pair'][0]} / {p['pair'][1]} | {p['both_labelled']} | {p['collapsed']:.1%} "
              f"| {p['ap_if_exact']:.4f} |" for p in summary["pairs"]]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
