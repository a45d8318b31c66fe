"""The studio renders, and its widgets change what it shows."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app" / "studio.py")


def metrics(at):
    return {m.label: m.value for m in at.metric}


def test_the_toy_view_renders_three_methods_without_errors():
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    shown = metrics(at)
    assert set(shown) == {"HyperMAML query accuracy", "MAML query accuracy", "ProtoNet query accuracy"}


def test_more_maml_steps_change_the_maml_panel():
    at = AppTest.from_file(APP, default_timeout=60).run()
    seen = set()
    for steps in (0, 1, 10):
        at.slider[1].set_value(steps).run()
        assert not at.exception
        seen.add(metrics(at)["MAML query accuracy"])
    assert len(seen) > 1


def test_fewer_support_points_change_the_hypermaml_panel():
    at = AppTest.from_file(APP, default_timeout=60).run()
    seen = set()
    for n_shot in (1, 5):
        at.slider[0].set_value(n_shot).run()
        assert not at.exception
        seen.add(metrics(at)["HyperMAML query accuracy"])
    assert len(seen) > 1
