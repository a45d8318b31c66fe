"""A real browser on the real server: ./run_app.sh on 127.0.0.1, Debian's headless chromium via Playwright.

Opens every page, waits for it to finish running, checks that no error element appears, and saves a
screenshot of each (to $STUDIO_SCREENSHOTS, default a temporary folder). Chromium comes from Debian
(`apt-get install chromium`; .ci/run installs it when missing). Without it the test fails in CI and is
skipped elsewhere, with that instruction.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from benchmarks.studio_speed import ARGS as CHROMIUM_ARGS  # the same browser flags as the speed benchmark

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAGES = {
    "toy": ("", '[data-testid="stMetric"]'),
    "episodes": ("episodes", '[data-testid="stMetric"]'),
    "own_task": ("own_task", '[data-testid="stFileUploader"]'),
    "how": ("how", '[data-testid="stImage"]'),
}

if not Path(CHROMIUM).exists():
    message = "Debian's chromium is not installed: apt-get install chromium"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def studio_url():
    port = free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1"}
    proc = subprocess.Popen(
        [str(ROOT / "run_app.sh")],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while True:
        try:
            with urllib.request.urlopen(url + "_stcore/health", timeout=2) as r:
                if r.read() == b"ok":
                    break
        except OSError:
            pass
        assert proc.poll() is None, "./run_app.sh exited before serving"
        assert time.time() < deadline, "the studio did not answer within 180 s"
        time.sleep(0.5)
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def test_every_page_opens_in_a_real_browser_without_errors(studio_url, tmp_path):
    from playwright.sync_api import sync_playwright

    out = Path(os.environ.get("STUDIO_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
        )
        for width in (1400, 1024):  # a laptop, and a class projector
            page = browser.new_page(viewport={"width": width, "height": 1600})
            for name, (path, ready) in PAGES.items():
                page.goto(studio_url + path)
                page.wait_for_selector(ready, timeout=120_000)
                page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=120_000)
                time.sleep(1)
                assert page.locator('[data-testid="stException"]').count() == 0, f"{name}: an exception is shown"
                assert page.locator('[data-testid="stAlertContentError"]').count() == 0, f"{name}: an error is shown"
                # the tab's icon comes from the studio itself: a classroom network may not reach the internet
                icons = page.eval_on_selector_all('link[rel~="icon"]', "links => links.map(l => l.href)")
                assert icons and all(i.startswith(studio_url) or i.startswith("data:") for i in icons), icons
                shot = out / f"{name}_{width}.png"
                page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000
            page.close()
        browser.close()


def test_presenter_mode_at_1024_px_hides_the_sidebar_and_toolbar_and_draws_figures_for_their_width(studio_url, tmp_path):
    """A projector: 1024 x 768, presenter mode from the link. Each page opens without the sidebar or toolbar; the
    toy's panels (HyperMAML, MAML after 1 and 5 steps, ProtoNet) are drawn for the width they are shown at (text
    at 14-15 px of it) and fit above the fold; the step-through plays. Screenshots: presenter_<page>_1024.png."""
    from playwright.sync_api import sync_playwright

    out = Path(os.environ.get("STUDIO_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1024, "height": 768})
        for name, (path, ready) in PAGES.items():
            page.goto(f"{studio_url}{path}?present=1")
            page.wait_for_selector(ready, timeout=120_000)
            page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=120_000)
            time.sleep(1)
            assert page.locator('[data-testid="stException"]').count() == 0, f"{name}: an exception is shown"
            for hidden in ("stSidebar", "stToolbar", "stHeader"):
                assert not page.locator(f'[data-testid="{hidden}"]').is_visible(), f"{name}: {hidden} is visible"
            assert page.get_by_role("button", name="Leave presenter mode").is_visible()
            assert "present=1" in page.url
            page.screenshot(path=str(out / f"presenter_{name}_1024.png"))
            if name == "toy":
                sizes = page.evaluate(
                    "() => [...document.querySelectorAll('[data-testid=stImage] img')].map(i => "
                    "[i.naturalWidth, i.clientWidth, i.getBoundingClientRect().bottom])"
                )
                natural, shown, bottom = sizes[0]
                assert natural == 1248 and 940 <= shown <= 1000, sizes  # drawn for 960 CSS px, at 1.3 pixels each
                assert bottom <= 768, f"the panels end at {bottom} px, below the fold"
        # the step-through: MAML's steps one at a time beside HyperMAML's one update
        page.goto(f"{studio_url}?present=1&show=steps")
        page.get_by_text("MAML after 0 of 5 steps").wait_for(timeout=120_000)
        page.get_by_role("button", name="Next step").click()
        page.get_by_text("MAML after 1 of 5 steps").wait_for(timeout=120_000)
        page.wait_for_function("() => location.search.includes('step=1')", timeout=60_000)
        page.screenshot(path=str(out / "presenter_toy_steps_1024.png"))
        browser.close()


def test_bad_uploads_in_a_real_browser_are_named_and_lose_nothing(studio_url, tmp_path):
    """Real file uploads through the page: a zip reaching outside its folder, then a text file named .png."""
    import zipfile

    from playwright.sync_api import sync_playwright

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../outside.png", b"x")
    fake = tmp_path / "notes.png"
    fake.write_bytes(b"hello, this is text")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 2000})
        page.goto(studio_url + "own_task")
        page.wait_for_selector('[data-testid="stFileUploader"]', timeout=120_000)
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=120_000)
        # per-class upload of something that is not an image: named under the thumbnails
        page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(fake))
        page.get_by_text("notes.png is not an image").first.wait_for(timeout=60_000)
        # the zip tab: refused with the reason, and the class's picture is still listed
        page.get_by_role("tab", name="One zip").click()
        page.locator('[data-testid="stFileUploader"] input[type="file"]').nth(5).set_input_files(str(evil))
        page.get_by_text("Nothing was changed").first.wait_for(timeout=60_000)
        text = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
        assert any("outside" in t or ".." in t for t in text), text
        assert page.get_by_text("· 1 image", exact=False).count() >= 1  # class 1 still holds the (unreadable) upload
        assert page.locator('[data-testid="stException"]').count() == 0
        browser.close()


def test_a_drawing_on_the_own_task_page_becomes_a_picture_of_the_chosen_class(studio_url, tmp_path):
    """The own-task pad (app/drawing_pen.py's pen, shared with the Classroom's): an empty pad is refused, a stroke
    drawn with the mouse is added to the first class, and the pad is blank again for the next one."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1024, "height": 1400})
        page.goto(studio_url + "own_task")
        page.wait_for_selector('[data-testid="stFileUploader"]', timeout=120_000)
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=120_000)
        page.get_by_role("tab", name="Draw").click()
        canvas = page.locator("canvas").first
        canvas.wait_for(timeout=60_000)
        add = page.get_by_role("button", name="Add drawing")
        add.click()
        page.get_by_text("Draw something first.").wait_for(timeout=10_000)
        box = canvas.bounding_box()
        x0, y0, w = box["x"], box["y"], box["width"]
        page.mouse.move(x0 + 0.3 * w, y0 + 0.2 * w)
        page.mouse.down()
        for t in range(12):
            page.mouse.move(x0 + (0.3 + 0.04 * t) * w, y0 + (0.2 + 0.05 * t) * w)
        page.mouse.up()
        assert canvas.evaluate("c => c.dataset.empty") == ""
        add.click()
        page.get_by_text("Added drawing-1.png to").wait_for(timeout=60_000)  # on the Draw tab, still open
        assert page.get_by_text("· 1 image", exact=False).count() >= 1
        assert canvas.evaluate("c => c.dataset.empty") == "1"  # blank again for the next drawing
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(tmp_path / "own_task_drawn_1024.png"))
        browser.close()


def test_a_link_with_settings_shows_the_numbers_of_the_same_settings_clicked_and_survives_page_switches(studio_url, tmp_path):
    """A teacher's link opened by a student: the same numbers as setting the controls by hand, which write that
    same link; the settings survive a trip to another page; the Link button shows the address; a bad value in a
    link is a plain warning."""
    from urllib.parse import parse_qs, urlsplit

    from playwright.sync_api import sync_playwright

    query = "type=horizontal-swapped&seed=5&shift_x=0.5&alpha=0.95"
    out = Path(os.environ.get("STUDIO_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)

    def settled(page, ready='[data-testid="stMetric"]'):
        page.wait_for_selector(ready, timeout=120_000)
        page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=120_000)
        time.sleep(1)
        assert page.locator('[data-testid="stException"]').count() == 0

    def change(page, action, expect: str):
        """``action``, then wait until the address says ``expect`` (the run writes it before its slow part),
        and for that run to finish."""
        action()
        page.wait_for_function("s => (location.pathname + location.search).includes(s)", arg=expect, timeout=120_000)
        settled(page)

    def shown(page):
        return page.locator('[data-testid="stMetric"]').all_inner_texts()

    def params(url):
        return parse_qs(urlsplit(url).query)

    def slider_key(page, label, key, expect):
        thumb = page.locator('[data-testid="stSlider"]').filter(has_text=label).get_by_role("slider").first
        change(page, lambda: (thumb.focus(), thumb.press(key)), expect)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        linked = browser.new_page(viewport={"width": 1024, "height": 1600})
        linked.goto(f"{studio_url}?{query}")
        settled(linked)
        from_link = shown(linked)
        assert params(linked.url) == params("?" + query)
        assert linked.get_by_text("θ + 0.95·Δθ").count() == 1
        linked.screenshot(path=str(out / "toy_link_1024.png"), full_page=True)

        page = browser.new_page(viewport={"width": 1024, "height": 1600})  # another visitor, clicking
        page.goto(studio_url)
        settled(page)
        assert params(page.url) == {}
        box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Task type")
        change(
            page,
            lambda: (box.click(), page.get_by_role("option", name="horizontal, labels swapped").click()),
            "type=horizontal-swapped",
        )
        seed = page.get_by_label("Task seed", exact=True).and_(page.locator("input"))
        change(page, lambda: (seed.fill("5"), seed.press("Enter")), "seed=5")
        page.get_by_text("Move beyond the training distribution").click()
        slider_key(page, "Shift x", "ArrowRight", "shift_x=0.5")  # 0 -> 0.5
        slider_key(page, "Blend α", "ArrowLeft", "alpha=0.95")  # 1 -> 0.95 (a fragment's run)
        assert shown(page) == from_link
        assert params(page.url) == params("?" + query)  # clicking wrote the same link

        nav = page.locator('[data-testid="stSidebarNav"] a')
        change(page, lambda: nav.filter(has_text="Real episodes").click(), "/episodes?data=")
        assert "data" in params(page.url) and "seed" not in params(page.url)
        change(page, lambda: nav.filter(has_text="One update vs k steps").click(), "/?type=")
        assert shown(page) == from_link and params(page.url) == params("?" + query)

        page.locator(".st-key-toy_link button").first.click()
        code = page.locator('[data-testid="stPopoverBody"] code, [data-testid="stCode"] code').first
        code.wait_for(timeout=60_000)
        link = code.inner_text().strip()
        assert link.startswith(studio_url) and params(link) == params("?" + query), link
        page.screenshot(path=str(out / "toy_link_popover_1024.png"))

        bad = browser.new_page(viewport={"width": 1024, "height": 1000})
        bad.goto(f"{studio_url}?seed=-3&type=sideways&alpha=2")
        settled(bad)
        warning = bad.locator('[data-testid="stAlertContentWarning"]').first.inner_text()
        assert "seed=-3 cannot be used" in warning and "type=sideways" in warning, warning
        assert params(bad.url) == {}
        bad.screenshot(path=str(out / "toy_bad_link_1024.png"))
        browser.close()


def test_on_a_phone_a_wide_table_scrolls_on_its_own_and_the_page_does_not(studio_url, tmp_path):
    """A student's phone, 390 px: the benchmark table of the episodes page (six columns, about 600 px) dragged the
    whole page sideways with it; it now scrolls inside its own box and the page stays the phone's width."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(studio_url + "episodes")
        page.wait_for_selector('[data-testid="stMetric"]', timeout=120_000)
        page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=120_000)
        table = page.locator("table", has_text="published")
        shown, content = table.evaluate("t => [t.clientWidth, t.scrollWidth]")
        assert content > 390 and shown < 390, (shown, content)  # wider than the phone, shown within it
        widths = page.evaluate(
            "() => [...document.querySelectorAll('[data-testid=stMain], [data-testid=stMainBlockContainer]')]"
            ".map(e => e.scrollWidth)"
        )
        assert widths and max(widths) <= 390, widths
        assert cue(page, "wide_table_benchmark") == "Swipe sideways to see all of it"  # no scroll bar shows until touched
        table.screenshot(path=str(tmp_path / "table_390.png"))

        # the toy's eight panels keep a readable width (text 5 px high when shrunk to 390) and scroll sideways
        page.goto(studio_url)
        page.wait_for_selector('[data-testid="stMetric"]', timeout=120_000)
        page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=120_000)
        box = page.locator('[class*="st-key-wide_figure_toy_panels"] [data-testid="stImage"]')
        shown, content, drawn = box.evaluate("b => [b.clientWidth, b.scrollWidth, b.querySelector('img').clientWidth]")
        assert drawn >= 600 and content >= 600 and shown < 390, (shown, content, drawn)
        widths = page.evaluate(
            "() => [...document.querySelectorAll('[data-testid=stMain], [data-testid=stMainBlockContainer]')]"
            ".map(e => e.scrollWidth)"
        )
        assert widths and max(widths) <= 390, widths
        caption = page.get_by_text("Colour: the probability of red")
        assert caption.evaluate("c => c.getBoundingClientRect().right") <= 390  # the caption wraps to the screen
        assert cue(page, "wide_figure_toy_panels") == "Swipe sideways to see all of it"
        # the per-class update table under "How the hypernetwork's update moves the boundary" is wider than the
        # phone as well, and says so
        update = page.locator('[class*="st-key-wide_table_update"] table')
        shown, content = update.evaluate("t => [t.clientWidth, t.scrollWidth]")
        assert content > shown, (shown, content)
        assert cue(page, "wide_table_update") == "Swipe sideways to see all of it"

        # the line shows exactly where the box scrolls: screens between a phone and a laptop, and a wide one
        for width in (480, 640, 660, 1024):
            other = browser.new_page(viewport={"width": width, "height": 900})
            for path, keys in (("", ("wide_figure_toy_panels", "wide_table_update")), ("episodes", ("wide_table_benchmark",))):
                other.goto(studio_url + path)
                other.wait_for_selector('[data-testid="stMetric"]', timeout=120_000)
                other.wait_for_selector('[data-test-script-state="notRunning"]', timeout=120_000)
                for key in keys:
                    box = other.locator(f'[class*="st-key-{key}"] table, [class*="st-key-{key}"] [data-testid="stImage"]').first
                    shown, content = box.evaluate("b => [b.clientWidth, b.scrollWidth]")
                    assert (cue(other, key) != "") == (content > shown), (width, key, shown, content)
            other.close()
        browser.close()


def cue(page, key: str) -> str:
    """The line a phone shows under a sideways-scrolling container (its CSS ::after), "" where none shows."""
    content = page.locator(f'[class*="st-key-{key}"]').evaluate("e => getComputedStyle(e, '::after').content")
    return "" if content in ("none", "normal") else content.strip('"').lstrip("\u2194 ")
