"""The classroom page (app/views/room.py): a teacher opens a room, students add pictures from their own
sessions, the presenter shows the task grow and the three methods' predictions; every refusal in plain words."""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from app.store import QUERIES, Store
from tests.conftest import stroke_png as png

APP = str(Path(__file__).resolve().parents[1] / "app" / "studio.py")
LAN = "http://192.168.1.20:8501/room"  # a student's phone reaching the teacher's computer over the network
NAMES = ["circle", "cross", "line", "wave", "dot"]


@pytest.fixture
def store(page_store):
    return page_store


def page(query: dict | None = None, url: str = LAN) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.context = {"url": url}
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.switch_page("views/room.py").run()
    assert not at.exception, at.exception
    return at


def unescaped(text: str) -> str:
    """Markdown source as the reader sees it: every backslash escape taken back."""
    return re.sub(r"\\(.)", r"\1", text)


def texts(at) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "success", "error", "warning") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def keys(at) -> set:
    return {b.key for b in at.button} | {t.key for t in at.toggle}


def open_room(at: AppTest, names=NAMES, title: str = "") -> tuple[str, str]:
    if len(names) != 5:
        at.button_group(key="room_form_n").set_value(len(names)).run()
    at.text_input(key="room_form_title").set_value(title)
    for i, name in enumerate(names):
        at.text_input(key=f"room_form_name_{i}").set_value(name)
    next(b for b in at.button if b.label == "Open the room").click().run()
    assert not at.exception, at.exception
    return at.query_params["room"], at.query_params["edit"]


def student_adds_a_file(at: AppTest, target, data: bytes, name: str = "mine.png") -> None:
    at.button_group(key="room_mode").set_value("File").run()
    at.button_group(key="room_target").set_value(target).run()
    next(u for u in at.file_uploader).upload(name, data, "image/png").run()
    at.button(key="room_add").click().run()
    assert not at.exception, at.exception


def test_opening_a_room_from_the_form_shows_a_qr_code_of_the_student_link(store):
    at = page()
    assert "Open the room" in [b.label for b in at.button]
    room_id, token = open_room(at, title="Period 3")
    student_link = f"http://192.168.1.20:8501/room?room={room_id}"
    assert [c.value for c in at.code][0] == student_link  # the link as text, under the QR code
    assert any("Scan to add a picture" in str(i.proto.imgs[0].caption) for i in at.get("image"))
    assert "it is the room's edit link" in texts(at)
    assert f"edit={token}" in [c.value for c in at.code][1]  # the edit link, in its private popover
    # the page's "Link" (for a slide or the class chat) is the students' link: never the edit key
    at.session_state["room_link"] = True
    at.run()
    codes = [c.value for c in at.code]  # the Link's, the one under the QR code, the private popover's
    assert len(codes) == 3 and codes.count(student_link) == 2, codes
    assert [c for c in codes if token in c] == [f"{student_link}&edit={token}"], codes  # the private one alone
    assert "It leaves out the edit link, which only you should have: opened without it" in texts(at)
    assert at.query_params["edit"] == token  # the teacher's own address bar keeps it (their bookmark)
    at.session_state["room_link"] = False
    at.run()
    assert at.title[0].value == "Classroom: Period 3"
    assert {"room_toggle_open", "room_removing"} <= keys(at)
    assert store.room_snapshot(room_id).classes[2].name == "line"
    at.button(key="room_new").click().run()  # back to the form; the room stays
    assert not at.exception and "Open the room" in [b.label for b in at.button] and not at.query_params
    assert store.room_snapshot(room_id).is_open


def test_the_qr_code_encodes_exactly_the_student_link():
    import segno

    from app.room_ui import qr_png

    link = "https://192.168.1.20:8501/room?room=" + "a" * 22
    expected = io.BytesIO()
    segno.make_qr(link, error="m").save(expected, kind="png", scale=12, border=4, dark="#000000", light="#ffffff")
    assert qr_png(link) == expected.getvalue()
    with Image.open(io.BytesIO(qr_png(link))) as im:
        assert im.size[0] >= 400  # readable from the back of a room when shown at 440 px


def test_a_student_adds_a_file_and_the_presenter_shows_it_then_every_method_predicts(store):
    teacher = page()
    room_id, token = open_room(teacher)
    assert "still empty" in texts(teacher)

    student = page({"room": room_id})
    assert not {"room_toggle_open", "room_removing"} & keys(student)  # a student cannot remove or close
    student_adds_a_file(student, 1, png(1))
    assert "Added to 'cross'. You have added 1 picture to this room." in [unescaped(s.value) for s in student.success]
    assert [len(c.images) for c in store.room_snapshot(room_id).classes] == [0, 1, 0, 0, 0]

    teacher.run()  # what the fragment's refresh does every 1.5 s
    assert "**cross**  \n1 picture" in [m.value for m in teacher.markdown]
    jump = "[:material/arrow_downward: The predictions](#predictions)"
    assert jump not in [m.value for m in teacher.markdown]  # no predictions yet: nothing to jump to
    for position in (0, 2, 3, 4):
        store.add_image(room_id, position, png(10 + position), "another student")
    for j in range(2):
        store.add_image(room_id, QUERIES, png(100 + j), "another student", name=f"guess {j}.png")
    teacher.run()
    assert not teacher.exception, teacher.exception
    table = teacher.dataframe[0].value
    assert list(table.columns) == ["picture", "query", "HyperMAML", "MAML (5 steps)", "ProtoNet"]
    assert list(table["query"]) == ["1. guess 0.png", "2. guess 1.png"]
    assert all(cell.split(" (")[0] in NAMES for cell in table["ProtoNet"])
    assert "methods agree on" in texts(teacher)
    # on the projector the predictions lie far below the QR code and the class rows: one link takes the teacher there
    assert jump in [m.value for m in teacher.markdown]
    assert any(h.proto.anchor == "predictions" for h in teacher.subheader)

    teacher.slider(key="room_steps").set_value(0).run()  # MAML after another k, in the URL
    assert "MAML (0 steps)" in teacher.dataframe[0].value.columns
    assert teacher.query_params["steps"] == "0"


def test_two_students_both_land_and_each_sees_their_own_count(store):
    room_id, _ = store.open_room(NAMES)
    first, second = page({"room": room_id}), page({"room": room_id})
    student_adds_a_file(first, 0, png(1))
    student_adds_a_file(second, 0, png(2))
    student_adds_a_file(second, QUERIES, png(3))
    assert "You have added 1 picture" in first.success[0].value
    assert "Added to the queries. You have added 2 pictures" in unescaped(second.success[0].value)
    snap = store.room_snapshot(room_id)
    assert len(snap.classes[0].images) == 2 and len(snap.queries) == 1


def test_students_adding_at_the_same_moment_all_land(store):
    from app.room_ui import add_to_room

    room_id, _ = store.open_room(NAMES)
    start = threading.Barrier(8)

    def student(i: int) -> list[tuple[str, str]]:
        start.wait()
        return [add_to_room(store, room_id, j % 5, png(100 * i + j), f"{i}-{j}.png", f"visitor {i}") for j in range(5)]

    with ThreadPoolExecutor(8) as pool:
        outcomes = [o for batch in pool.map(student, range(8)) for o in batch]
    assert outcomes == [("success", "")] * 40
    assert [len(c.images) for c in store.room_snapshot(room_id).classes] == [8] * 5


def test_a_drawing_is_stored_once_and_the_pad_hears_it_was(store):
    room_id, _ = store.open_room(NAMES)
    at = page({"room": room_id})
    assert [e.key for e in at.get("bidi_component")] == ["room_pad"]  # drawing is the first input shown
    buf = io.BytesIO()
    drawing = np.full((280, 280), 255, np.uint8)
    drawing[60:220, 130:150] = 0  # one stroke
    Image.fromarray(drawing).save(buf, format="PNG")
    at.session_state["room_pad"] = {
        "drawing": {"id": "1-x", "png": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()}
    }
    at.run()
    assert not at.exception, at.exception
    pad = json.loads(at.get("bidi_component")[0].proto.json)
    assert pad["done"] == "1-x"  # sent back to the pad, which then clears
    assert (pad["kind"], pad["msg"]) == ("success", "Added to 'circle'. You have added 1 picture to this room.")
    at.run()  # the pad keeps reporting its last drawing: it is not added twice
    assert len(store.room_snapshot(room_id).classes[0].images) == 1
    at.session_state["room_pad"] = {"drawing": {"id": "2-y", "png": "data:image/jpeg;base64,AAAA"}}
    at.run()
    pad = json.loads(at.get("bidi_component")[0].proto.json)
    assert pad["done"] == "1-x" and pad["kind"] == "error" and "did not arrive as a PNG" in pad["msg"]


def test_a_wrong_edit_token_shows_the_students_page(store):
    room_id, token = store.open_room(NAMES)
    at = page({"room": room_id, "edit": token[:-1] + ("A" if token[-1] != "A" else "B")})
    assert not {"room_toggle_open", "room_removing"} & keys(at)
    assert "does not match the room" in texts(at)
    assert "edit" not in at.query_params  # the wrong token leaves the URL
    assert at.button_group(key="room_target")  # the student's class picker


def test_the_teacher_removes_a_picture_and_closes_the_room_and_a_student_is_refused_in_plain_words(store):
    room_id, token = store.open_room(NAMES)
    student = page({"room": room_id})
    student.button_group(key="room_mode").set_value("File").run()
    next(u for u in student.file_uploader).upload("late.png", png(3), "image/png").run()  # picked while open
    gone = store.add_image(room_id, 0, png(1), "s")
    store.add_image(room_id, 0, png(2), "s")
    teacher = page({"room": room_id, "edit": token})
    teacher.toggle(key="room_removing").set_value(True).run()
    teacher.button(key=f"room_rm_{gone}").click().run()
    assert [i.id for i in store.room_snapshot(room_id).classes[0].images] == [gone + 1]
    teacher.button(key="room_toggle_open").click().run()
    assert not store.room_snapshot(room_id).is_open
    assert "the room is closed" in texts(teacher)

    student.button(key="room_add").click().run()  # added after the room closed: the store refuses
    said = [unescaped(m) for m in texts(student).splitlines() if "closed" in m]
    assert said == [
        "Your picture was not added. This room is closed: it takes no more pictures. Ask your teacher to open it again."
    ]
    assert not student.error  # one message, not the store's refusal beside the page's own
    assert "This room is closed" in texts(page({"room": room_id}))  # a new student sees it at once

    teacher.button(key="room_toggle_open").click().run()
    assert store.room_snapshot(room_id).is_open


def test_the_rate_limit_is_the_stores_and_its_message_is_shown(store, monkeypatch):
    monkeypatch.setenv("HYPERMAML_STUDIO_MAX_ADDITIONS_PER_MINUTE", "1")
    monkeypatch.setenv("HYPERMAML_STUDIO_DIR", str(Path(store.engine.url.database).parent / "limited"))
    from app.store import url_from_env

    limited = Store.from_url(url_from_env())
    room_id, _ = limited.open_room(NAMES)
    at = page({"room": room_id})
    student_adds_a_file(at, 0, png(1))
    student_adds_a_file(at, 0, png(2))
    assert unescaped(at.error[0].value).startswith("You have added 1 images in the last minute")
    assert len(limited.room_snapshot(room_id).classes[0].images) == 1


def test_a_file_that_is_not_a_picture_is_refused_with_the_stores_words(store):
    room_id, _ = store.open_room(NAMES)
    at = page({"room": room_id})
    student_adds_a_file(at, 0, b"hello, this is text", "notes.png")
    assert "It was not added" in at.error[0].value
    assert store.room_snapshot(room_id).n_images == 0


@pytest.mark.parametrize("query", [{"room": "not-a-room"}, {"room": "A" * 22}])
def test_a_malformed_or_unknown_room_id_gives_a_plain_message(store, query):
    at = page(query)
    assert not at.get("text_input") and not at.get("button_group")  # no form for a student, no picker
    assert at.error and ("does not lead to a room" in at.error[0].value or "no saved task or room" in at.error[0].value)


def test_names_and_titles_are_shown_as_text_never_as_markup(store):
    names = ["[click](http://evil.example)", "**bold**", "<b>x</b>", ":material/home: a", "www.example.org"]
    room_id, token = store.open_room(names, title="_Period_ <i>3</i>")
    teacher = page({"room": room_id, "edit": token})
    shown = texts(teacher)
    link = r"\[click\]\(http\:\/\/evil\.example\)"
    assert link in shown and r"\*\*bold\*\*" in shown and r"\<b\>x\<\/b\>" in shown
    assert r"\:material\/home\: a" in shown and r"www\.example\.org" in shown  # no icon, no autolink
    assert teacher.title[0].value == r"Classroom: \_Period\_ \<i\>3\<\/i\>"
    student = page({"room": room_id})
    options = student.button_group(key="room_target").proto.options
    assert [o.content for o in options][:2] == [link, r"\*\*bold\*\*"]
    assert [unescaped(o.content) for o in options][:5] == names


def test_the_camera_is_explained_over_plain_http_and_offered_over_https(store):
    room_id, _ = store.open_room(NAMES)
    over_http = page({"room": room_id})
    over_http.button_group(key="room_mode").set_value("Photo").run()
    assert not over_http.camera_input and "The camera is off on this page" in over_http.warning[0].value
    over_https = page({"room": room_id}, url="https://192.168.1.20:8501/room")
    over_https.button_group(key="room_mode").set_value("Photo").run()
    photo = io.BytesIO()
    Image.open(io.BytesIO(png(5))).save(photo, format="JPEG")
    over_https.camera_input[0].set_value(("image.jpg", photo.getvalue(), "image/jpeg")).run()
    over_https.button(key="room_add").click().run()
    assert "You have added 1 picture" in over_https.success[0].value


def test_a_room_of_three_classes_is_predicted_by_protonet_and_says_why_only_it():
    from app.compute import benchmark_models
    from app.room_ui import room_predictions
    from app.user_task import Picture, TaskClass

    classes = [TaskClass(n, [Picture(f"{n}.png", png(i))]) for i, n in enumerate(["a", "b", "c"])]
    result = room_predictions(classes, [Picture("q.png", png(9))], "auto", 5, benchmark_models(5))
    assert [k for k in result.rows[0] if k not in ("picture", "query")] == ["ProtoNet"]
    assert any("this room has 3" in n for n in result.notes)


def test_a_stored_query_that_no_longer_reads_is_left_out_with_a_note_not_an_error():
    """A blank query stored before blanks were refused stopped the whole predictions panel."""
    from app.compute import benchmark_models
    from app.room_ui import room_predictions
    from app.user_task import Picture, TaskClass

    blank = io.BytesIO()
    Image.new("L", (64, 64), 255).save(blank, format="PNG")
    classes = [TaskClass(n, [Picture(f"{n}.png", png(i))]) for i, n in enumerate(NAMES)]
    queries = [Picture("q.png", png(9)), Picture("blank.png", blank.getvalue())]
    result = room_predictions(classes, queries, "auto", 5, benchmark_models(5))
    assert [r["query"] for r in result.rows] == ["1. q.png"]
    assert "Left out, as the models cannot read them: 2. blank.png." in result.notes


def test_edit_allowed_changes_nothing(store):
    from app.room_ui import edit_allowed

    room_id, token = store.open_room(NAMES)
    version = store.room_snapshot(room_id).version
    assert edit_allowed(store, room_id, token)
    assert not edit_allowed(store, room_id, "x" * 32) and not edit_allowed(store, room_id, None)
    assert store.room_snapshot(room_id).version == version


def test_counts_read_as_words_a_student_would_write():
    from app.room_ui import agreement_note
    from app.user_task import counted

    assert agreement_note(3, 2, 5) == "The 3 methods agree on 2 of the 5 queries."
    assert agreement_note(3, 1, 1) == "The 3 methods agree on the one query."
    assert agreement_note(3, 0, 1) == "The 3 methods do not agree on the one query."
    assert [counted(n, "image") for n in (0, 1, 2)] == ["0 images", "1 image", "2 images"]
    assert counted(1, "class", "classes") == "1 class" and counted(3, "class", "classes") == "3 classes"
