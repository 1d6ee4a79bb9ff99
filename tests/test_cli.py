"""The installed command line: dispatch, help, zoo; `posekit train` end to end is in test_trainer."""
import json
import subprocess
import sys

import pytest

from posekit.cli import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_is_an_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2


def test_zoo_lists_shipped_model_and_architectures(capsys):
    assert main(["zoo", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "hrnet_w32" in data["architectures"] and "simplebaseline_r50" in data["architectures"]
    names = [r["name"] for r in data["shipped"]]
    assert "posekit_synth_hrnet_w16s_192x144" in names


def test_console_script_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "posekit.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("posekit ")


def test_train_reports_a_bad_recipe(tmp_path, capsys):
    bad = tmp_path / "r.yaml"
    bad.write_text("- not a mapping\n")
    assert main(["train", str(bad)]) == 2
    assert "r.yaml: a recipe must be a mapping" in capsys.readouterr().err
