"""The classroom in a real browser (the server and browser of tests/test_browser.py): a student draws with a
finger on a phone-sized page and adds the drawing; the presenter at projector width shows it arrive by itself,
with the three methods' predictions. Screenshots go to $STUDIO_SCREENSHOTS (default a temporary folder)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import stroke_png as png
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, studio_url  # noqa: F401 - studio_url is the server fixture

NAMES = ["circle", "cross", "line", "wave", "dot"]
PHONE = {"width": 390, "height": 844}  # an iPhone 12-15's viewport


@pytest.fixture(scope="module", autouse=True)
def studio_dir(tmp_path_factory):
    """The server's store: a folder of this module's own (set before studio_url starts the server)."""
    folder = tmp_path_factory.mktemp("studio")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("HYPERMAML_STUDIO_DB", raising=False)
        mp.setenv("HYPERMAML_STUDIO_DIR", str(folder))
        yield folder


def settled(page, ready: str) -> None:
    page.wait_for_selector(ready, timeout=120_000)
    page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=120_000)
    time.sleep(1)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_student_draws_on_a_phone_and_the_projector_shows_it_arrive(studio_url, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    from app.store import QUERIES, Store

    out = Path(os.environ.get("STUDIO_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    store = Store.from_env()
    room_id, token = store.open_room(NAMES, title="Period 3")
    for position in range(1, 5):  # every class but the first has a picture already; two queries wait
        store.add_image(room_id, position, png(position), "earlier students")
    for j in range(2):
        store.add_image(room_id, QUERIES, png(100 + j), "earlier students", name=f"guess {j}.png")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        projector = browser.new_page(viewport={"width": 1024, "height": 2000})
        projector.goto(f"{studio_url}room")  # the teacher's form
        settled(projector, '[data-testid="stTextInput"]')
        projector.screenshot(path=str(out / "room_form_1024.png"))
        projector.goto(f"{studio_url}room?room={room_id}&edit={token}")
        settled(projector, '[data-testid="stImage"]')
        assert projector.get_by_text("still empty").count() == 1  # "circle" has no picture yet

        phone = browser.new_context(viewport=PHONE, device_scale_factor=3, is_mobile=True, has_touch=True).new_page()
        phone.goto(f"{studio_url}room?room={room_id}")
        settled(phone, "canvas")
        canvas = phone.locator("canvas")
        add = phone.get_by_role("button", name="Add to circle")
        for element in (canvas, add):  # the class, the pad and its button are all in view without scrolling
            box = element.bounding_box()
            assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], box
        # the pad stays within the width of its row of buttons (its 2 px border stuck out 4 px past it)
        pad, buttons = canvas.bounding_box(), phone.locator(".pad .row").bounding_box()
        assert pad["x"] + pad["width"] <= buttons["x"] + buttons["width"] + 0.5, (pad, buttons)
        phone.screenshot(path=str(out / "room_student_390.png"))
        box = canvas.bounding_box()
        x0, y0, w = box["x"], box["y"], box["width"]
        phone.mouse.move(x0 + 0.5 * w, y0 + 0.15 * w)  # a stroke, as a finger's pointer events arrive
        phone.mouse.down()
        for t in np.linspace(0, 1, 12):
            phone.mouse.move(x0 + 0.5 * w, y0 + (0.15 + 0.7 * t) * w)
        phone.mouse.up()
        add.click()
        phone.get_by_text("You have added 1 picture to this room").wait_for(timeout=60_000)
        assert phone.locator('[data-testid="stAlertContentError"]').count() == 0
        phone.screenshot(path=str(out / "room_student_added_390.png"))
        phone.get_by_text("Photo", exact=True).click()  # the camera (this page is on the serving computer)
        settled(phone, ".st-key-room_add button")
        phone.screenshot(path=str(out / "room_student_photo_390.png"))

        # nothing clicked on the projector: its refresh finds the drawing and the models start
        projector.locator('[data-testid="stDataFrame"]').wait_for(timeout=60_000)
        time.sleep(2)
        assert projector.locator('[data-testid="stException"]').count() == 0
        assert projector.get_by_text(re.compile(r"methods (do not )?agree on")).count() == 1
        projector.screenshot(path=str(out / "room_presenter_1024.png"), full_page=True)
        projector.get_by_text("Remove pictures").click()  # a remove button under every picture
        projector.locator(".st-key-room_rm_1 button").first.wait_for(timeout=60_000)
        time.sleep(1)
        projector.screenshot(path=str(out / "room_presenter_removing_1024.png"))
        projector.get_by_text("Remove pictures").click()
        projector.locator(".st-key-room_rm_1").first.wait_for(state="detached", timeout=60_000)
        projector.get_by_role("button", name="Show the code large").click()
        dialog = projector.locator('[role="dialog"]')
        dialog.locator('[data-testid="stImage"] img').wait_for(timeout=60_000)
        time.sleep(2 * 1.5)  # the room's refresh runs behind the dialog and leaves it open
        projector.set_viewport_size({"width": 1024, "height": 768})  # a projector's screen: the code whole, in view
        time.sleep(0.5)
        code = dialog.locator('[data-testid="stImage"] img').bounding_box()
        assert code["width"] >= 500 and code["y"] >= 0 and code["y"] + code["height"] <= 768, code
        projector.screenshot(path=str(out / "room_presenter_qr_1024.png"))
        browser.close()
    snap = store.room_snapshot(room_id)
    assert len(snap.classes[0].images) == 1 and snap.n_images == 7
    store.close()
