"""Saved tasks on "Your own task" (app/views/own_task.py): saving gives a view link and a private edit link; the
view link opens the task read-only for anyone (their own queries stay in their session), the edit link changes
or deletes it, and a malformed, unknown or wrong link gets a plain message, never a traceback."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from app.store import NotFound
from app.user_task import Picture
from tests.test_own_task import full_task, png

APP = str(Path(__file__).resolve().parents[1] / "app" / "studio.py")
PAGE = "views/own_task.py"
URL = "http://192.168.1.20:8501/own_task"
CLASS_CONTROLS = ("own_name_", "own_up_class", "own_zip_", "own_rm_class", "own_clear_class", "own_edit_class")
EDITING = ("own_save", "own_update", "own_delete")


@pytest.fixture
def store(page_store):
    return page_store


def page(query: dict | None = None, task=None) -> AppTest:
    """A new visitor (a fresh session) opening the page, with a link's query, or with a task of their own."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.context = {"url": URL}
    for k, v in (query or {}).items():
        at.query_params[k] = v
    if task is not None:
        at.session_state["own_classes"], at.session_state["own_queries"] = task
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def own_task(n_queries: int = 3):
    return full_task(), [Picture(f"q{i}.png", png(100 + i)) for i in range(n_queries)]


def keys(at: AppTest) -> set[str]:
    found = set()
    for kind in ("button", "text_input", "file_uploader", "multiselect", "radio", "selectbox", "popover"):
        found |= {e.key for e in at.get(kind) if getattr(e, "key", None)}
    return found


def has(at: AppTest, prefixes) -> set[str]:
    return {k for k in keys(at) if k.startswith(prefixes)}


def texts(at: AppTest, *kinds: str) -> str:
    kinds = kinds or ("markdown", "caption", "info", "success", "error", "warning")
    return "\n".join(str(e.value) for kind in kinds for e in at.get(kind))


def unescaped(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def predictions(at: AppTest) -> list[dict]:
    table = at.dataframe[0].value
    return table.drop(columns=["picture"]).to_dict("records")


def save(at: AppTest, title: str = "") -> tuple[str, str]:
    """Click "Save" (with a title); returns the task id and edit token, read from the two links shown."""
    at.text_input(key="own_save_title").set_value(title)
    at.button(key="own_save").click().run()
    assert not at.exception, at.exception
    view_link, edit_link = [c.value for c in at.code][:2]
    assert view_link.startswith(URL + "?") and edit_link.startswith(URL + "?")
    view_query, edit_query = (parse_qs(urlsplit(link).query) for link in (view_link, edit_link))
    task_id = view_query["task"][0]
    assert view_query == {"task": [task_id]} and edit_query["task"] == [task_id]
    return task_id, edit_query["edit"][0]


# ---- saving, and opening the view link -----------------------------------------------------------------------


def test_a_saved_task_opens_from_its_link_with_the_same_classes_and_predictions(store):
    saver = page(task=own_task())
    saver.text_input(key="own_name_0").set_value("circle").run()
    saver.radio(key="own_polarity").set_value("keep").run()
    task_id, token = save(saver, title="Five <b>shapes</b>")
    assert len(task_id) == 22 and len(token) == 32
    shown = texts(saver)
    assert "Edit link: keep this private." in shown and "View link" in shown
    assert saver.query_params == {"task": task_id, "polarity": "keep"}  # the address: the view link, no token
    assert token not in str(dict(saver.query_params))
    assert any(unescaped(s.value).startswith("Saved “Five <b>shapes</b>”") for s in saver.success)  # as text
    editing = [unescaped(i.value) for i in saver.info if "You are editing the saved task" in i.value]
    assert editing and "(you saved it from this tab)" in editing[0] and "edit link opened it" not in editing[0]

    saved = store.load_task(task_id)
    assert saved.class_names == ["circle", "c1", "c2", "c3", "c4"] and saved.polarity == "keep"
    assert [len(c.images) for c in saved.classes] == [2] * 5 and len(saved.queries) == 3 and saved.title == "Five <b>shapes</b>"

    visitor = page({"task": task_id})
    assert [c.name for c in visitor.session_state["own_classes"]] == saved.class_names
    assert visitor.radio(key="own_polarity").value == "keep" and visitor.radio(key="own_polarity").disabled
    assert predictions(visitor) == predictions(saver)
    assert [n.value.split(" · ")[0] for n in visitor.markdown if " · " in n.value][:5] == [
        "**circle**",
        "**c1**",
        "**c2**",
        "**c3**",
        "**c4**",
    ]
    assert any("This is a saved task “Five <b>shapes</b>”, opened read-only." in unescaped(i.value) for i in visitor.info)


def test_the_view_link_is_read_only_and_a_visitors_queries_never_reach_the_store(store):
    task_id, _ = store.save_task(*own_task(), title="Shapes")
    before = store.load_task(task_id)
    visitor = page({"task": task_id})
    assert not has(visitor, CLASS_CONTROLS + EDITING), has(visitor, CLASS_CONTROLS + EDITING)
    uploader = next(k for k in keys(visitor) if k.startswith("own_up_queries_"))
    assert "own_copy" in keys(visitor)
    assert [t.label for t in visitor.tabs][:2] == ["Draw a query", "Photograph a query"]

    visitor.file_uploader(key=uploader).set_value([("mine.png", png(300), "image/png")]).run()
    assert not visitor.exception, visitor.exception
    assert list(visitor.dataframe[0].value["query"]) == ["q0.png", "q1.png", "q2.png", "mine.png"]
    visitor.selectbox(key=f"own_truth_{visitor.session_state['own_queries'][3].key}").set_value(2).run()
    assert "Accuracy on the 1 labelled query" in texts(visitor)
    visitor.multiselect(key="own_rm_queries").select("1 · q0.png").run()  # removing a saved query: this tab only
    visitor.button(key="own_rm_btn_queries").click().run()
    assert list(visitor.dataframe[0].value["query"]) == ["q1.png", "q2.png", "mine.png"]
    assert store.load_task(task_id) == before  # same version, same images

    visitor.button(key="own_copy").click().run()  # a copy of one's own: editable, and no longer the link's
    assert not visitor.exception, visitor.exception
    assert has(visitor, ("own_name_", "own_up_class")) and "own_save" in keys(visitor)
    assert visitor.query_params.get("task") is None and store.load_task(task_id) == before


# ---- the edit link --------------------------------------------------------------------------------------------


def test_the_edit_link_updates_and_deletes_the_task(store):
    task_id, token = store.save_task(*own_task(), title="Draft")
    editor = page({"task": task_id, "edit": token})
    assert editor.query_params == {"task": task_id}  # the token left the address bar (and so the page's "Link")
    assert has(editor, ("own_name_", "own_up_class")) and {"own_update", "own_delete"} <= keys(editor)
    assert any("You are editing the saved task “Draft”** (its edit link opened it)" in i.value for i in editor.info)

    assert not any("not saved yet" in i.value for i in editor.info)
    editor.text_input(key="own_name_1").set_value("square").run()
    assert any("This page has changes that are not saved yet" in i.value for i in editor.info)
    editor.text_input(key="own_edit_title").set_value("Final")
    editor.button(key="own_update").click().run()
    assert not editor.exception, editor.exception
    saved = store.load_task(task_id)
    assert saved.version == 2 and saved.class_names[1] == "square" and saved.title == "Final"
    assert any(s.value.startswith("Saved the changes “Final”") for s in editor.success)
    assert {"own_update", "own_delete"} <= keys(editor)  # still the editor
    assert not any("not saved yet" in i.value for i in editor.info)
    assert any("“Final”** (its edit link opened it)" in i.value for i in editor.info)  # saving changes keeps how

    visitor = page({"task": task_id})
    assert [c.name for c in visitor.session_state["own_classes"]][1] == "square"

    editor.button(key="own_delete").click().run()
    assert not editor.exception, editor.exception
    with pytest.raises(NotFound):
        store.load_task(task_id)
    assert any("Deleted: its links no longer open it." in i.value for i in editor.info)
    assert editor.query_params.get("task") is None and "own_save" in keys(editor)  # the page keeps the task
    assert [c.name for c in editor.session_state["own_classes"]][1] == "square"
    gone = page({"task": task_id})
    assert any(f"No saved task has the id **{task_id}**" in unescaped(w.value) for w in gone.warning)


@pytest.mark.parametrize(
    "edit, said",
    [
        ("x" * 32, "This edit link does not match the saved task, so it opens read-only"),
        ("too-short", "**edit=too-short** cannot be used: An edit link takes a token of 32"),
    ],
    ids=["wrong", "malformed"],
)
def test_a_wrong_or_malformed_edit_token_opens_the_task_read_only_with_a_plain_note(store, edit, said):
    task_id, token = store.save_task(*own_task())
    other_id, other_token = store.save_task(*own_task(1))
    at = page({"task": task_id, "edit": edit})
    assert any(said in unescaped(w.value) for w in at.warning), [w.value for w in at.warning]
    assert not has(at, CLASS_CONTROLS + EDITING) and "own_copy" in keys(at)
    assert len(at.dataframe[0].value) == 3  # the task itself is shown
    another = page({"task": task_id, "edit": other_token})  # another task's token opens nothing of this one
    assert not has(another, CLASS_CONTROLS + EDITING)
    assert store.load_task(task_id).version == 1 and token != other_token


# ---- links that lead nowhere ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "task, said",
    [
        ("AbCdEfGhIjKlMnOpQrStUv", "No saved task has the id **AbCdEfGhIjKlMnOpQrStUv**"),
        ("AbCdEfGhIj", "**task=AbCdEfGhIj** cannot be used: A saved task takes an id of 22"),
        ("<script>alert(1)</script>", "cannot be used: A saved task takes an id of 22"),
        ("../../../../etc/passwd-x", "cannot be used: A saved task takes an id of 22"),
    ],
    ids=["unknown", "cut-short", "markup", "path"],
)
def test_a_malformed_or_unknown_id_gives_a_plain_message(store, task, said):
    at = page({"task": task})
    warnings = [unescaped(w.value) for w in at.warning]
    assert any(said in w for w in warnings), warnings
    assert "Traceback" not in texts(at) and not at.exception
    assert at.query_params.get("task") is None  # the id leaves the URL: said once
    assert "own_save_title" in keys(at) and "own_name_0" in keys(at)  # an empty task of one's own meanwhile


def test_a_room_id_is_not_a_saved_task(store):
    room_id, _ = store.open_room(["a", "b", "c", "d", "e"])
    at = page({"task": room_id})
    assert any("That id is a Classroom room, not a saved task" in unescaped(w.value) for w in at.warning)


def test_the_stores_refusals_are_shown_as_its_plain_sentences(store, monkeypatch):
    monkeypatch.setenv("HYPERMAML_STUDIO_MAX_TASK_IMAGES", "4")  # read when the page's store is made (its own URL)
    at = page(task=own_task())
    at.button(key="own_save").click().run()
    assert not at.exception, at.exception
    errors = [unescaped(e.value) for e in at.error]
    assert any("The task has 13 images; one task may hold at most 4 on this server." in e for e in errors), errors
    assert at.query_params.get("task") is None and not at.code  # nothing saved, no links
    assert store.usage()["tasks"] == 0
