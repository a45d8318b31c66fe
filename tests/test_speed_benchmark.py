"""benchmarks/speed.py measures what the speed issue asks for (its numbers are never asserted: timing)."""

import torch

import hypermaml as hm
from benchmarks import speed


def test_channels_last_and_contiguous_conv4_compute_the_same_function():
    cfg = speed.model_config("hypermaml", 1)
    torch.manual_seed(0)
    fast = hm.build_model(cfg)  # channels-last by default
    plain = hm.build_model(cfg).to(memory_format=torch.contiguous_format)
    plain.load_state_dict(fast.state_dict())
    assert fast.backbone.memory_format == torch.channels_last
    assert plain.backbone.memory_format == torch.contiguous_format
    assert fast.backbone.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert plain.backbone.features[0].weight.is_contiguous()
    episode = speed.fake_sampler(1).sample(torch.Generator().manual_seed(0))
    for model in (fast, plain):
        model.eval()
    with torch.no_grad():
        a = fast.logits(episode.query_x, fast.adapt(episode.support_x, episode.support_y))
        b = plain.logits(episode.query_x, plain.adapt(episode.support_x, episode.support_y))
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


CONFIG = speed.model_config  # the original, kept before any test replaces it


def narrow_config(*args, **kwargs):
    """``speed.model_config`` with an 8-channel Conv4: the benchmarks' functions in seconds (at the configs' 64
    channels a quarter-minute of compute for numbers nobody reads here)."""
    import dataclasses

    cfg = CONFIG(*args, **kwargs)
    return dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, hidden=8))


def test_the_measurements_have_the_documented_keys(monkeypatch):
    # The keys, not the speeds.
    monkeypatch.setattr(speed, "model_config", narrow_config)
    cpu = torch.device("cpu")
    assert set(speed.adapt_ms(1, cpu, repeats=1)) == {"hypermaml", "protonet", "maml_1", "maml_5", "maml_10"}
    assert set(speed.eval_600_s(1, cpu, 1)) == {"hypermaml", "protonet", "maml_1", "maml_5", "maml_10"}
    assert speed.train_episodes_per_s("hypermaml", 1, cpu, 4) > 0
    assert speed.conv4_fwd_bwd_episodes_per_s(1, cpu, 4) > 0
    assert set(speed.TRAIN_METHODS) == {"hypermaml", "protonet", "maml_so", "maml_fo"}


def test_the_speed_page_table_is_the_stored_report():
    import json

    report = json.loads(speed.SPEED_JSON.read_text())
    assert {"adapt_ms", "train_episodes_per_s", "conv4_fwd_bwd_episodes_per_s", "peak_mem_mb", "eval_600_s", "5shot"} <= set(
        report
    )
    from benchmarks.readme import DOCS

    assert speed.readme_block(report) in (DOCS / "speed.md").read_text()


def test_the_layout_and_vectorise_benchmarks_measure_every_layout_and_mode(monkeypatch):
    from benchmarks import vectorise
    from benchmarks.micro import layout

    monkeypatch.setattr(layout, "model_config", narrow_config)
    case = layout.measure_case("maml", 1, {"train_steps": 1}, rounds=1, seconds=0.01)
    assert set(case) == {"train_step_ms", "adapt_and_score_ms"}
    for phase in case.values():
        assert set(phase) == {"channels_last", "contiguous", "library"} and all(v > 0 for v in phase.values())
    model = hm.build_model(narrow_config("hypermaml", 1)).train()
    cpu = torch.device("cpu")
    assert vectorise.episodes_per_s(model, 2, cpu, vectorised=True, seconds=0.01) > 0
    assert vectorise.episodes_per_s(model, 2, cpu, vectorised=False, seconds=0.01) > 0


def test_the_layout_vectorise_and_paper_tables_on_the_docs_pages_are_the_stored_reports():
    import json

    from benchmarks import paper_code, vectorise
    from benchmarks.micro import layout
    from benchmarks.readme import DOCS, stored_block

    for name, module, command, page in (
        ("layout", layout, layout.COMMAND, "speed.md"),
        ("vectorise", vectorise, vectorise.COMMAND, "scale.md"),
        ("paper_code", paper_code, paper_code.SAVE_COMMAND, "speed.md"),
    ):
        report = json.loads((DOCS / f"{name}.json").read_text())
        assert stored_block(name, module.markdown(report), command) in (DOCS / page).read_text(), name
    if (DOCS / "vectorise_cuda.json").is_file():  # scripts/gpu_table.sh's, once a GPU has run it
        report = json.loads((DOCS / "vectorise_cuda.json").read_text())
        assert (
            stored_block("vectorise_cuda", vectorise.markdown(report), vectorise.command(report))
            in (DOCS / "scale.md").read_text()
        )


def test_the_commit_comparison_imports_a_commit_as_its_own_package_computing_the_same(tmp_path):
    """``benchmarks/micro/against_commit.py`` times this tree against a commit's ``hypermaml`` imported under another
    name; here the commit is HEAD, whose package must be a separate module computing what ours computes."""
    import subprocess
    import sys

    from benchmarks import speed
    from benchmarks.micro import against_commit
    from hypermaml import config

    base = against_commit.import_base("HEAD", tmp_path)
    try:
        assert base.__name__ == "hypermaml_base" and base.build_model is not hm.build_model
        cfg = speed.model_config("hypermaml", 1)
        this = hm.build_model(cfg).eval()
        old = base.build_model(base.config.from_dict(base.ModelConfig, config.to_dict(cfg))).eval()
        old.load_state_dict(this.state_dict())
        e = speed.fake_sampler(1).sample(torch.Generator().manual_seed(1))
        with torch.no_grad():
            torch.testing.assert_close(against_commit._call(old, e, True), against_commit._call(this, e, True))
    finally:
        sys.path.remove(str(tmp_path / "pkgs"))
        for name in [m for m in sys.modules if m.split(".")[0] == "hypermaml_base"]:
            del sys.modules[name]
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=against_commit.ROOT, capture_output=True, text=True).stdout
    assert str(tmp_path) not in worktrees  # the checkout was removed again
