"""scripts/gpu_table.sh waits for a GPU machine, which comes seldom and for minutes: its every step is run here on the
CPU with tiny budgets (QUICK=1), in a copy of the tree (the script's --save rewrites docs/), so that the one call on
a GPU does not fail on something a CPU would have caught."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_table_script_runs_every_step_and_returns_what_it_stored(tmp_path):
    tree = tmp_path / "tree"
    for part in ("hypermaml", "benchmarks", "scripts", "docs"):
        shutil.copytree(ROOT / part, tree / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "README.md", tree / "README.md")
    before = (tree / "docs" / "scale.md").read_text()
    out = tmp_path / "out"
    env = {**os.environ, "PY": sys.executable, "DEVICE": "cpu", "QUICK": "1", "OUT": str(out)}
    done = subprocess.run(["bash", "scripts/gpu_table.sh"], cwd=tree, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert {"vectorise.json", "time_to_accuracy.json", "time_to_accuracy.png"} <= {p.name for p in out.iterdir()}
    vectorise = json.loads((out / "vectorise.json").read_text())
    assert set(vectorise["episodes_per_s"]) == {
        f"{m}, meta-batch {b}" for m in ("hypermaml", "protonet", "maml_so_1step") for b in (1, 2)
    }
    tta = json.loads((out / "time_to_accuracy.json").read_text())
    assert [r["row"].split(" (")[0] for r in tta["rows"]] == ["omniglot_emnist_hypermaml_1shot"]
    assert tta["rows"][0]["curve"] and "test_alone" in tta["rows"][0]
    # the table on the copy's docs page is the new report's
    from benchmarks import vectorise as bench

    assert (tree / "docs" / "scale.md").read_text() != before
    assert bench.markdown(vectorise) in (tree / "docs" / "scale.md").read_text()
    # back from the GPU machine, a stored report's table is written without measuring again
    vectorise["episodes_per_s"]["hypermaml, meta-batch 1"]["loop"] = 123456.0
    (out / "vectorise.json").write_text(json.dumps(vectorise))
    again = subprocess.run([sys.executable, "-m", "benchmarks.vectorise", "--from-json", str(out / "vectorise.json")], cwd=tree)
    assert again.returncode == 0 and "| 123456.0 |" in (tree / "docs" / "scale.md").read_text()


def test_a_gpu_report_gets_its_own_name_table_and_command():
    from benchmarks import vectorise as bench

    report = {
        "device": "cuda",
        "device_name": "NVIDIA H100 80GB HBM3",
        "torch": "2.11.0+cu130",
        "threads": 2,
        "rounds": 3,
        "meta_batches": [1, 16, 64, 256],
        "episodes_per_s": {"hypermaml, meta-batch 1": {"loop": 10.0, "vmap": 12.0, "vmap_over_loop": 1.2}},
    }
    assert bench.report_name(report) == "vectorise_cuda"
    assert bench.command(report).endswith("--device cuda --meta-batch 1 16 64 256 --save")
    assert "*NVIDIA H100 80GB HBM3 (torch 2.11.0+cu130), medians of 3 rounds.*" in bench.markdown(report)
    assert bench.report_name({**report, "device": "cpu"}) == "vectorise"
