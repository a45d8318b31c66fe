"""The library installs as a wheel and works outside the repository: bundled models by name, the command."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_installs_and_works_from_any_folder(tmp_path):
    import shutil

    # built from a copy: the build's scratch folders stay out of the repository
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".venv", ".git", "runs", "build", "*.egg-info", "__pycache__", ".pytest_cache"),
    )
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(dist), str(source)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    wheel = next(dist.glob("hypermaml_studio-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "hypermaml/pretrained/omniglot_emnist_hypermaml_1shot.pt" in names
    assert "hypermaml/pretrained/transductive/omniglot_emnist_hypermaml_1shot.pt" in names
    assert "hypermaml/configs/omniglot_emnist_hypermaml_1shot.json" in names
    assert not any(n.startswith(("app/", "toy/", "benchmarks/", "tests/")) for n in names)  # the library only

    site = tmp_path / "site"  # an empty folder: only the wheel's files (its dependencies come from this venv)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = (
        "import hypermaml as hm, pathlib; m = hm.load('omniglot_emnist_hypermaml_1shot'); "
        "print(pathlib.Path(hm.__file__).parent); print(m.config.method, m.config.n_shot, m.metrics['test_accuracy_alone'] > 0.8)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=elsewhere, env=env
    ).stdout.split("\n")
    assert Path(out[0]) == site / "hypermaml"  # the installed copy, not the repository's
    assert out[1] == "hypermaml 1 True"

    command = site / "bin" / "hypermaml"
    help_text = subprocess.run(
        [str(command), "train", "--help"], check=True, capture_output=True, text=True, cwd=elsewhere, env=env
    ).stdout
    assert "--config" in help_text and "--run-dir" in help_text
    bad = subprocess.run(
        [str(command), "evaluate", "--checkpoint", "no_such_model", "--dataset", "digits"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: no such checkpoint") and bad.stderr.count("\n") == 1
    assert "omniglot_emnist_hypermaml_1shot" in bad.stderr  # it lists the bundled names
