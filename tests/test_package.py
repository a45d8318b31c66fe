"""The library installs as a wheel and works outside the repository: bundled models by name, the command, and
a researcher's whole path on a new machine (prepare the data, train a shipped config by name, evaluate)."""

import json
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
    import hypermaml as hm

    wheel = next(dist.glob("hypermaml-*.whl"))
    assert wheel.name.startswith(f"hypermaml-{hm.__version__}-")  # the version has one source
    names = zipfile.ZipFile(wheel).namelist()
    assert "hypermaml/pretrained/omniglot_emnist_hypermaml_1shot.pt" in names
    assert "hypermaml/pretrained/transductive/omniglot_emnist_hypermaml_1shot.pt" in names
    assert "hypermaml/configs/omniglot_emnist_hypermaml_1shot.json" in names
    assert "hypermaml/configs/finetune/omniglot_emnist_hypermaml_1shot.json" in names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    meta = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Name: hypermaml\n" in meta and "License-Expression: MIT" in meta and "Project-URL: Paper" in meta
    assert not any(n.startswith(("app/", "toy/", "benchmarks/", "tests/")) for n in names)  # the library only

    site = tmp_path / "site"  # an empty folder: only the wheel's files (its dependencies come from this venv)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # no data folder set: the per-user default (platformdirs, under XDG_DATA_HOME on Linux) is this test's own
    env = {k: v for k, v in os.environ.items() if k != "HYPERMAML_DATA"}
    env.update(PYTHONPATH=str(site), XDG_DATA_HOME=str(tmp_path / "xdg"), OMP_NUM_THREADS="1")
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

    run = lambda *args: subprocess.run([str(command), *args], capture_output=True, text=True, cwd=elsewhere, env=env)
    version = run("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"hypermaml {hm.__version__}"

    # the official archives in small (the formats the real ones have), prepared into the default folder
    from tests.test_prepare import SMALL, emnist_images, emnist_zip, omniglot_zips

    archives = tmp_path / "archives"
    archives.mkdir()
    omniglot_zips(archives, SMALL)
    emnist_zip(archives / "gzip.zip", *emnist_images(per_class=16))  # validation episodes draw 1 + 15 per class
    prepared = run("data", "prepare", "--from", str(archives), "--no-progress")
    assert prepared.returncode == 0, prepared.stderr
    assert (tmp_path / "xdg" / "hypermaml" / "data" / "omniglot" / "alphabets.tsv").is_file()

    tiny = ["train.epochs=1", "train.episodes_per_epoch=2", "train.meta_batch=1", "train.val_episodes=2"]
    sets = [a for item in tiny for a in ("--set", item)]
    trained = run("train", "--config", "omniglot_emnist_hypermaml_1shot", "--run-dir", "run", "--threads", "1", *sets)
    assert trained.returncode == 0, trained.stderr
    assert "best validation accuracy" in trained.stdout and (elsewhere / "run" / "best.pt").is_file()
    for checkpoint in ("run/best.pt", "omniglot_emnist_protonet_1shot"):
        scored = run("evaluate", "--checkpoint", checkpoint, "--dataset", "emnist", "--episodes", "3")
        assert scored.returncode == 0, scored.stderr
        assert "on emnist-test, 5-way 1-shot" in scored.stdout
    assert json.loads((elsewhere / "run" / "best.eval_emnist-test_1shot_3episodes.json").read_text())["episodes"] == 3


def test_the_public_names_load_on_first_use_and_each_is_the_one_its_module_defines():
    import importlib

    import hypermaml as hm
    import hypermaml.data as data

    for package in (hm, data):
        lazy = set(package._HOME)
        assert lazy <= set(package.__all__)  # __all__ is what `import *` and the docs see
        assert set(package.__all__) - lazy <= set(vars(package))  # the rest is bound at import
        for name in package.__all__:
            value = getattr(package, name)
            assert name in dir(package)
            if name in package._HOME:
                home = importlib.import_module(f"{package.__name__}.{package._HOME[name]}")
                assert value is getattr(home, name)
        try:
            package.no_such_name  # noqa: B018
        except AttributeError as exc:
            assert "no_such_name" in str(exc)
        else:
            raise AssertionError("an unknown name must raise AttributeError")
    # a function that shares its module's name stays the function, whichever is imported first
    import hypermaml.data.download  # noqa: F401

    assert callable(data.download) and data.download.__module__ == "hypermaml.data.download"
    assert hm.CheckpointError is importlib.import_module("hypermaml.checkpoint").CheckpointError
    # and a submodule is an attribute after a bare import, as when the package imported them all (a new process:
    # in this one other tests have imported them already)
    probe = "import hypermaml as hm; print(hm.checkpoint.bundled_names()[0], hm.config.__name__, hm.data.folders.__name__)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.split() == ["omniglot_emnist_hypermaml_1shot", "hypermaml.config", "hypermaml.data.folders"], done.stderr


def test_help_configs_and_usage_errors_answer_without_importing_torch(tmp_path):
    # torch costs about two seconds to import: a newcomer's --help, the config list and a mistake in the
    # command line must not wait for it (what is imported is checked, not how long it takes)
    probe = (
        "import sys\n"
        "from hypermaml.cli import main\n"
        "try:\n"
        "    status = main(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    status = exc.code\n"
        "print('STATUS', status, 'TORCH', 'torch' in sys.modules)\n"
    )
    env = {**os.environ, "HYPERMAML_DATA": str(tmp_path / "absent")}
    cases = [
        (["--help"], 0, ""),
        (["configs"], 0, ""),
        (["train", "--config", "no_such_config", "--run-dir", str(tmp_path / "r")], 2, "no_such_config"),
        (
            ["train", "--config", "omniglot_emnist_hypermaml_1shot", "--run-dir", str(tmp_path / "r"), "--set", "train.lr=-1"],
            2,
            "train.lr",
        ),
        (["train", "--config", "omniglot_emnist_hypermaml_1shot", "--run-dir", str(tmp_path / "r")], 2, "hypermaml data prepare"),
        (["evaluate", "--checkpoint", "omniglot_emnist_hypermaml_1shot", "--dataset", "nope"], 2, "unknown dataset"),
    ]
    for args, status, words in cases:
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env, cwd=tmp_path)
        assert f"STATUS {status} TORCH False" in done.stdout, (args, done.stdout, done.stderr)
        assert words in done.stderr, (args, done.stderr)
    # and the real work still loads it: the probe can tell
    done = subprocess.run(
        [sys.executable, "-c", "import sys, hypermaml as hm; hm.load('toy_hypermaml'); print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
    )
    assert done.stdout.strip() == "True", done.stderr
