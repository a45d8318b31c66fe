"""The studio renders, and its widgets change what it shows."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app" / "studio.py")


def metrics(at):
    return {m.label: m.value for m in at.metric}


def run_app():
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def test_the_toy_view_renders_every_method_without_errors():
    at = run_app()
    assert set(metrics(at)) == {"HyperMAML, 1 update", "MAML, 1 step", "MAML, 5 steps", "ProtoNet"}
    assert sorted(c.key for c in at.get("plotly_chart")) == ["toy_alpha", "toy_click", "toy_panels"]
    table = at.table[0].value
    assert list(table["part"][:3]) == ["w[0]", "w[1]", "bias"]


def test_another_task_type_changes_the_accuracies():
    at = run_app()
    before = metrics(at)
    seen = {tuple(before.values())}
    for name in ("horizontal, labels swapped", "random task type"):
        at.selectbox[0].set_value(name).run()
        assert not at.exception
        seen.add(tuple(metrics(at).values()))
    assert len(seen) > 1


def test_shifting_the_task_hurts_the_hypernetwork_more_than_many_maml_steps():
    at = run_app()
    shift = next(s for s in at.slider if s.label == "Shift x")
    shift.set_value(10.0).run()
    assert not at.exception
    shown = metrics(at)
    assert int(shown["HyperMAML, 1 update"].rstrip("%")) < 90


def test_the_alpha_slider_redraws_the_interpolated_classifier():
    at = run_app()

    def alpha_spec():
        import json

        spec = json.loads(next(c for c in at.get("plotly_chart") if c.key == "toy_alpha").proto.spec)
        return spec["layout"]["title"]["text"]

    assert "1.00·Δθ" in alpha_spec()
    alpha = next(s for s in at.slider if s.label.startswith("α"))
    alpha.set_value(0.0).run()
    assert not at.exception
    assert "0.00·Δθ" in alpha_spec()


def test_the_how_it_works_page_renders_its_two_diagrams():
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("views/how.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "How HyperMAML works"
    assert len(at.get("graphviz_chart")) == 2


def test_the_real_episodes_page_shows_predictions_and_reacts_to_the_seed():
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("views/episodes.py").run()
    assert not at.exception, at.exception
    first = metrics(at)
    assert "HyperMAML accuracy" in first and "ProtoNet accuracy" in first
    captions = [c.value for c in at.caption]
    assert any("truth:" in c and "HyperMAML" in c for c in captions)
    seen = {tuple(first.values())}
    for seed in (1, 2, 3):
        at.number_input[0].set_value(seed).run()
        assert not at.exception
        seen.add(tuple(metrics(at).values()))
    assert len(seen) > 1
    assert len(at.table) == 1


def own_task_app(with_queries=True):
    from tests.test_own_task import full_task, png
    from app.own_task import Picture

    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["own_classes"] = full_task()
    at.session_state["own_queries"] = [Picture(f"q{i}.png", png(100 + i)) for i in range(3)] if with_queries else []
    at.switch_page("views/own_task.py").run()
    assert not at.exception, at.exception
    return at


def test_an_empty_own_task_says_what_is_missing():
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("views/own_task.py").run()
    assert not at.exception, at.exception
    assert any("have no images yet" in w.value for w in at.warning)


def test_your_own_task_predicts_every_query_and_survives_setting_changes():
    at = own_task_app()
    table = at.dataframe[0].value
    assert list(table["query"]) == ["q0.png", "q1.png", "q2.png"]
    assert {"hypermaml prediction", "protonet prediction"} <= set(table.columns)
    assert at.get("download_button")
    at.radio(key="own_polarity").set_value("invert").run()
    assert not at.exception
    assert len(at.session_state["own_classes"][0].pictures) == 2 and len(at.session_state["own_queries"]) == 3
    assert len(at.dataframe[0].value) == 3


def test_a_corrupt_query_is_named_and_the_rest_still_predicted():
    from app.own_task import Picture

    at = own_task_app()
    at.session_state["own_queries"].append(Picture("broken.png", b"not an image"))
    at.run()
    assert not at.exception
    assert any("broken.png is not an image" in e.value for e in at.error)
    assert len(at.dataframe[0].value) == 3


def test_live_training_trains_three_models_and_the_page_can_use_them():
    at = run_app()
    at.button(key="toy_train").click().run(timeout=300)
    assert not at.exception, at.exception
    live = at.session_state["toy_live_models"]
    assert set(live) == {"hypermaml", "maml", "protonet"}
    at.toggle(key="toy_use_live").set_value(True).run()
    assert not at.exception
    assert set(metrics(at)) == {"HyperMAML, 1 update", "MAML, 1 step", "MAML, 5 steps", "ProtoNet"}


def test_placed_support_points_replace_the_sampled_support_set():
    at = AppTest.from_file(APP, default_timeout=120)
    # deliberately mislabelled for the default task ("vertical, labels in order"): class 0 where class 1 lives
    at.session_state["toy_points"] = [(4.0, 7.0, 0), (4.5, 6.0, 0), (1.0, 7.0, 1)]  # unequal class sizes too
    at.run()
    assert not at.exception, at.exception
    assert int(metrics(at)["ProtoNet"].rstrip("%")) > 70
    at.toggle(key="toy_use_points").set_value(True).run()
    assert not at.exception, at.exception
    assert int(metrics(at)["ProtoNet"].rstrip("%")) < 30  # the swapped points now define the classes
    at.button(key="toy_clear_points").click().run()
    assert at.session_state["toy_points"] == []
