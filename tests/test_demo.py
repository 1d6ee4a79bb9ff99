"""The end-to-end demo with the shipped model: synthetic images -> predictions -> overlays -> AP."""
import json

from posekit.cli import main


def test_demo_writes_overlays_results_and_prints_ap(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--num", "3"]) == 0
    printed = capsys.readouterr().out
    assert "OKS AP against the generated ground truth" in printed
    stats = json.loads(printed.split("(GT boxes): ", 1)[1].splitlines()[0])
    assert set(stats) == {"AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"}
    results = json.loads((out / "results.json").read_text())
    gt = json.loads((out / "data" / "annotations.json").read_text())
    labelled = [a for a in gt["annotations"] if a["num_keypoints"] > 0]
    assert len(results) == len(labelled) and all(len(r["keypoints"]) == 51 for r in results)
    assert len(list((out / "vis").glob("*.jpg"))) == 3


def test_shipped_model_record_is_complete():
    from posekit.estimators.topdown import WEIGHTS_DIR
    import hashlib

    record = json.loads((WEIGHTS_DIR / "posekit_synth_hrnet_w16s_192x144.json").read_text())
    for key in ("arch", "skeleton", "input_size", "heatmap_size", "codec", "normalization", "recipe",
                "metrics", "sha256", "licence"):
        assert key in record, key
    weights = WEIGHTS_DIR / record["weights"]
    assert weights.stat().st_size <= 20 * 1024 * 1024
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == record["sha256"]
