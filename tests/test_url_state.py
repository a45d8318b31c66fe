"""Every page's view lives in its URL (app/url_state.py): a link reproduces the view, page switches keep it,
and a bad value in a link is a plain message, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import url_state

APP = str(Path(__file__).resolve().parents[1] / "app" / "studio.py")
# The settings of the example: a teacher's "look at this task".
TOY_LINK = {"type": "horizontal-swapped", "seed": "5", "shift_x": "0.5", "rotate": "10", "alpha": "0.95"}


def metrics(at):
    return {m.label: m.value for m in at.metric}


def alpha_caption(at):
    return next(c for c in (str(i.proto.imgs[0].caption) for i in at.get("image")) if c.startswith("θ +"))


def opened(query: dict, page: str | None = None, url: str | None = None) -> AppTest:
    """A new visitor opening a link: a fresh session with that query string."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update(query)
    if url:
        at.context["url"] = url
    (at.switch_page(page) if page else at).run()
    assert not at.exception, at.exception
    return at


def switch(at: AppTest, page: str) -> None:
    """A click in the sidebar: Streamlit empties the query string, then runs the other page."""
    at.query_params.clear()
    at.switch_page(page).run()
    assert not at.exception, at.exception


# ---- the parameters' reading and writing -------------------------------------------------------------------


def test_each_kind_of_parameter_reads_what_it_writes_and_refuses_the_rest_with_its_rule():
    seed = url_state.integer("seed", "k", "Seed", 0, 0, 100)
    assert seed.parse("42") == 42 and seed.text(42) == "42"
    for bad in ("-1", "101", "4.5", "abc", "", "1e3"):
        with pytest.raises(ValueError, match="a whole number from 0 to 100"):
            seed.parse(bad)
    rotate = url_state.integer("rotate", "k", "Rotate", 0, -90, 90, 5)
    assert rotate.parse("-45") == -45
    with pytest.raises(ValueError, match="in steps of 5"):
        rotate.parse("7")
    alpha = url_state.number("alpha", "k", "α", 1.0, 0.0, 1.5, 0.05)
    assert alpha.parse("0.95") == 0.95 and alpha.text(0.9500000000000001) == "0.95" and alpha.text(1.0) == "1"
    for bad in ("nan", "inf", "-0.05", "1.55", "0.93", "x"):
        with pytest.raises(ValueError, match="a number from 0 to 1.5 in steps of 0.05"):
            alpha.parse(bad)
    kind = url_state.choice("type", "k", "Type", "A long name", {"a": "A long name", "b": "B"})
    assert kind.parse("b") == "B" and kind.text("A long name") == "a"
    with pytest.raises(ValueError, match="one of a, b"):
        kind.parse("A long name")  # the URL holds the short word, not the label
    use = url_state.flag("use", "k", "Use")
    assert use.parse("1") is True and use.parse("false") is False and use.text(True) == "1"
    with pytest.raises(ValueError):
        use.parse("yes please")
    task = url_state.pattern("task", "k", "A task", r"[A-Za-z0-9_-]{22}", "an id of 22 characters")
    assert task.parse("abcdefghij_-0123456789") == "abcdefghij_-0123456789"
    with pytest.raises(ValueError, match="an id of 22 characters"):
        task.parse("abc/../def")


def test_text_from_a_url_is_shown_as_text_never_as_markdown():
    shown = url_state.plain("![x](http://evil) **bold** :red[alarm] <b>")
    assert "\\!\\[x\\]\\(http\\:\\/\\/evil\\)" in shown and "\\*\\*bold" in shown and "\\:red\\[" in shown
    assert url_state.plain("a" * 500).endswith("…") and len(url_state.plain("line\nbreak").splitlines()) == 1


def test_placed_points_round_trip_through_their_compact_url_form():
    codec = url_state.points("points", "k", "Placed points", 100, 50.0)
    placed = [(4.0, 7.0, 0), (-4.5, 6.25, 0), (1.0, -7.0, 1)]
    assert codec.text(placed) == "4_7_0~-4.5_6.25_0~1_-7_1"  # no character a URL must escape
    assert codec.parse(codec.text(placed)) == placed
    assert codec.parse("4,7,0;1,7,1") == [(4.0, 7.0, 0), (1.0, 7.0, 1)]  # the hand-typed form
    for bad in ("4_7_2", "4_7", "4_7_0_1", "nan_1_0", "99_1_0", "", "~".join(["1_1_0"] * 101)):
        with pytest.raises(ValueError, match="at most 100 points"):
            codec.parse(bad)


# ---- the toy page ---------------------------------------------------------------------------------------------


def test_a_toy_link_in_a_new_session_shows_the_numbers_of_the_same_settings_set_by_hand():
    link = opened(TOY_LINK)
    assert not link.warning
    assert link.selectbox(key="toy_type").value == "horizontal, labels swapped"
    assert link.number_input(key="toy_seed").value == 5 and link.slider(key="toy_shift_x").value == 0.5
    assert alpha_caption(link) == "θ + 0.95·Δθ"
    assert link.query_params == TOY_LINK  # read and written back unchanged

    by_hand = AppTest.from_file(APP, default_timeout=180).run()
    assert by_hand.query_params == {}  # the defaults make no query
    by_hand.selectbox(key="toy_type").set_value("horizontal, labels swapped").run()
    by_hand.number_input(key="toy_seed").set_value(5).run()
    by_hand.slider(key="toy_shift_x").set_value(0.5).run()
    by_hand.slider(key="toy_rotate").set_value(10).run()
    by_hand.slider(key="toy_alpha").set_value(0.95).run()
    assert not by_hand.exception, by_hand.exception
    assert metrics(by_hand) == metrics(link)
    assert alpha_caption(by_hand) == alpha_caption(link)
    assert by_hand.query_params == TOY_LINK  # the widgets wrote the link


def test_placed_points_in_a_link_are_the_support_set_as_if_clicked():
    points = [(4.0, 7.0, 0), (4.5, 6.0, 0), (1.0, 7.0, 1)]  # mislabelled on purpose: ProtoNet follows them
    link = opened({"points": "4_7_0~4.5_6_0~1_7_1", "use_points": "1"})
    assert link.session_state["toy_points"] == points and link.toggle(key="toy_use_points").value
    clicked = AppTest.from_file(APP, default_timeout=180)
    clicked.session_state["toy_points"] = points
    clicked.run()
    clicked.toggle(key="toy_use_points").set_value(True).run()
    assert metrics(clicked) == metrics(link)
    assert int(metrics(link)["ProtoNet"].rstrip("%")) < 30
    assert clicked.query_params == {"points": "4_7_0~4.5_6_0~1_7_1", "use_points": "1"}


def test_malformed_values_in_a_link_fall_back_to_the_defaults_with_a_plain_warning():
    defaults = metrics(AppTest.from_file(APP, default_timeout=180).run())
    bad = {"type": "sideways", "seed": "-3", "shift_x": "1e999", "alpha": "nan", "points": "1_2_3", "sed": "5"}
    at = opened(bad)
    assert metrics(at) == defaults
    warning = " ".join(w.value for w in at.warning)
    for name in ("type=sideways", "seed=\\-3", "shift_x=1e999", "alpha=nan", "points=1\\_2\\_3"):
        assert f"**{name}** cannot be used" in warning, (name, warning)
    assert "Task seed takes a whole number from 0" in warning and "Showing 0 instead" in warning
    assert "**sed** is not a setting of this page" in warning
    assert at.query_params == {}  # the URL now says what is shown
    at.number_input(key="toy_seed").set_value(2).run()  # the next click: the warning has done its work
    assert not at.warning and at.query_params == {"seed": "2"}


def test_switching_pages_and_back_keeps_each_pages_settings_and_puts_them_back_in_the_url():
    at = opened(TOY_LINK)
    toy = metrics(at)
    switch(at, "views/episodes.py")
    assert set(at.query_params) == {"data"}  # the data always: the default differs between servers
    at.number_input(key="episodes_seed").set_value(3).run()
    at.slider(key="episodes_maml_steps").set_value(2).run()
    episodes, episodes_query = metrics(at), dict(at.query_params)
    assert episodes_query["seed"] == "3" and episodes_query["steps"] == "2"
    switch(at, "views/how.py")
    assert at.query_params == {}
    switch(at, "views/toy.py")
    assert metrics(at) == toy and alpha_caption(at) == "θ + 0.95·Δθ"
    assert at.query_params == TOY_LINK
    switch(at, "views/episodes.py")
    assert metrics(at) == episodes and at.query_params == episodes_query


def test_the_link_button_gives_the_views_full_address_and_on_the_server_the_students_one(monkeypatch):
    at = opened({"seed": "5"}, url="http://192.168.1.5:8501")
    assert not at.code  # the popover's content is computed only when it is opened
    at.session_state["toy_link"] = True  # open it
    at.run()
    assert [c.value for c in at.code] == ["http://192.168.1.5:8501/?seed=5"]
    # on the serving computer (localhost), the address ./run_app.sh printed for the class
    monkeypatch.setenv(url_state.PUBLIC_URL_ENV, "https://10.0.0.7:8501")
    at = AppTest.from_file(APP, default_timeout=180)
    at.context["url"] = "http://localhost:8501/episodes"
    at.session_state["episodes_link"] = True
    at.query_params.update({"data": "digits", "seed": "4"})
    at.switch_page("views/episodes.py").run()
    assert [c.value for c in at.code] == ["https://10.0.0.7:8501/episodes?data=digits&seed=4"]


# ---- the real episodes and your own task ----------------------------------------------------------------------


def test_an_episodes_link_reproduces_the_episode_and_a_bad_one_says_what_it_shows_instead():
    link = opened({"data": "digits", "seed": "3", "steps": "2"}, "views/episodes.py")
    by_hand = AppTest.from_file(APP, default_timeout=180)
    by_hand.switch_page("views/episodes.py").run()
    by_hand.selectbox(key="episodes_data").set_value("digits").run()  # (the default is the data this server has)
    by_hand.number_input(key="episodes_seed").set_value(3).run()
    by_hand.slider(key="episodes_maml_steps").set_value(2).run()
    assert metrics(by_hand) == metrics(link) and "MAML accuracy (2 steps)" in metrics(link)
    assert by_hand.query_params == link.query_params == {"data": "digits", "seed": "3", "steps": "2"}

    bad = opened({"data": "imagenet", "shots": "7", "seed": "three", "steps": "11"}, "views/episodes.py")
    warning = " ".join(w.value for w in bad.warning)
    assert "**data=imagenet** cannot be used: Images takes one of" in warning
    assert "**shots=7** cannot be used: Shots takes one of 1, 5. Showing 1 instead." in warning
    assert "**seed=three**" in warning and "**steps=11**" in warning
    assert "MAML accuracy (5 steps)" in metrics(bad)


def test_your_own_task_reserves_a_saved_tasks_id_and_says_plainly_when_it_is_unknown_or_malformed():
    unknown = opened({"task": "AbCdEfGhIjKlMnOpQrStUv", "polarity": "invert"}, "views/own_task.py")
    assert any("No saved task has the id **AbCdEfGhIjKlMnOpQrStUv**" in w.value for w in unknown.warning)
    assert unknown.radio(key="own_polarity").value == "invert"
    assert unknown.query_params == {"polarity": "invert"}  # the unknown id leaves the URL: said once
    unknown.run()
    assert not any("No saved task" in w.value for w in unknown.warning)
    cut = opened({"task": "AbCdEfGhIj"}, "views/own_task.py")
    assert any("**task=AbCdEfGhIj** cannot be used: A saved task takes an id of 22" in w.value for w in cut.warning)


def test_presenter_mode_is_a_setting_of_every_page_kept_across_page_switches():
    at = opened({"present": "1", "seed": "4"})
    assert at.session_state["studio_presenter"] is True and not at.warning
    assert at.query_params == {"present": "1", "seed": "4"}
    switch(at, "views/how.py")
    assert at.query_params == {"present": "1"}  # the studio-wide setting follows the visitor
    switch(at, "views/toy.py")
    assert at.query_params == {"present": "1", "seed": "4"}  # the page's own settings come back with it
    bad = opened({"present": "maybe"}, "views/how.py")
    assert "**present=maybe** cannot be used: Presenter mode takes 1 (on) or 0 (off)" in bad.warning[0].value
    assert bad.session_state["studio_presenter"] is False


def test_a_set_of_steps_reads_what_it_writes_and_refuses_the_rest():
    steps = url_state.integers("steps", "k", "MAML steps drawn", [0, 1, 2, 3, 4, 5], range(6))
    assert steps.parse("1_5") == [1, 5] and steps.parse("5,1") == [1, 5] and steps.parse("none") == []
    assert steps.text([5, 1]) == "1_5" and steps.text([]) == "none"
    for bad in ("6", "1_x", "", "-1"):
        with pytest.raises(ValueError, match="numbers among 0, 1, 2, 3, 4, 5"):
            steps.parse(bad)
