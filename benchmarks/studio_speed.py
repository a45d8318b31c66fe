"""Time every control of every studio page in a real browser, and the studio under K concurrent visitors.

    .venv/bin/python -m benchmarks.studio_speed                      # starts ./run_app.sh itself
    .venv/bin/python -m benchmarks.studio_speed --load 1 5 20        # also K concurrent visitors
    .venv/bin/python -m benchmarks.studio_speed --url http://localhost:8501/   # an already running studio

Needs Debian's chromium. *Cold start* (without ``--url``; ``--skip-cold`` leaves it out): ./run_app.sh is
started afresh, and a browser, already open, asks for the first page the moment the server answers:
``cold_first_paint_s`` is the time from starting the process until the page shows its first element (the
"starting" note or the page itself), ``cold_page_ready_s`` until the toy page's first run has finished.
``--cold-only``: just that. A *change* is timed from the key press or click until the page's script run has
finished (the app's ``data-test-script-state`` returns to ``notRunning``) and the browser has painted twice
more: what a visitor waits for. *First paint* is from navigation until the first run has finished, on a
warm server (models loaded, the page visited once before). Every change uses a new value, so nothing is
timed from a cache the visitor did not earn: where a value repeats it says so (``cached``).

``--load K ...``: K browser contexts (separate visitors, one chromium) each open the toy page and change the
task seed, then Real episodes and change the episode seed, all at the same time; reported per K: p50/p95 of
a change, errors (an exception element or a change that never finished), and the server's peak memory.
Last line: one JSON object (seconds, MB).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path

from benchmarks.process_memory import PssSampler, memory_sentence, peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1400, "height": 1400}

# Counts finished script runs: every change of the app's script state to "notRunning".
OBSERVE = """() => {
  if (window.__runsDone !== undefined) return;
  window.__runsDone = 0;
  const app = () => document.querySelector('[data-test-script-state]');
  let last = app() ? app().getAttribute('data-test-script-state') : null;
  new MutationObserver(() => {
    const now = app() ? app().getAttribute('data-test-script-state') : null;
    if (now !== last && now === 'notRunning') window.__runsDone += 1;
    last = now;
  }).observe(document.body, {attributes: true, subtree: true, attributeFilter: ['data-test-script-state']});
}"""
PAINTED = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"


def launch_server() -> tuple[subprocess.Popen, str]:
    """./run_app.sh on a free port, not waited for."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1"}
    proc = subprocess.Popen(
        [str(ROOT / "run_app.sh")],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}/"


def start_server() -> tuple[subprocess.Popen, str]:
    proc, url = launch_server()
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "_stcore/health", timeout=2) as r:
                if r.read() == b"ok":
                    return proc, url
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the studio did not answer within 300 s")


@contextlib.contextmanager
def studio(url: str | None, report: dict):
    """Yield the URL of ``url`` or of a studio started here; for one started here, store the server's peak
    memory in ``report`` and stop it afterwards (run_app.sh execs the server: its pid is the server's)."""
    if url:
        yield url
        return
    proc, started_url = start_server()
    sampler = PssSampler(proc.pid)
    try:
        yield started_url
        report["server_peak_rss_mb"] = round(peak_rss_mb(proc.pid), 1)
    finally:
        report.update(sampler.stop())
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


# The first element a page's run puts in the main area (Streamlit's style-only st.html goes elsewhere).
FIRST_ELEMENT = '[data-testid="stMainBlockContainer"] [data-testid="stElementContainer"]'


async def cold_start(browser) -> dict:
    """Start ./run_app.sh afresh and time, from the process start, the first visitor's first element and the
    end of their first page's run. The browser is already open; it navigates the moment the server answers its
    health check (polled every 50 ms: a browser retrying a refused page itself waits longer between tries)."""
    page = await browser.new_page(viewport=VIEWPORT)
    started = time.perf_counter()
    proc, url = launch_server()
    try:
        while True:
            try:
                with urllib.request.urlopen(url + "_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        break
            except OSError:  # not listening yet
                if proc.poll() is not None or time.perf_counter() - started > 300:
                    raise SystemExit("./run_app.sh did not serve within 300 s") from None
                await asyncio.sleep(0.05)
        answered = time.perf_counter() - started
        await page.goto(url, timeout=120_000)
        await page.wait_for_selector(FIRST_ELEMENT, state="attached", timeout=300_000)
        await page.evaluate(PAINTED)
        first_paint = time.perf_counter() - started
        await page.wait_for_selector('[data-testid="stMetric"]', timeout=300_000)
        await page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=300_000)
        await page.evaluate(PAINTED)
        ready = time.perf_counter() - started
    finally:
        await page.close()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    return {
        "cold_server_answers_s": round(answered, 2),
        "cold_first_paint_s": round(first_paint, 2),
        "cold_page_ready_s": round(ready, 2),
    }


async def open_page(page, url: str, ready: str) -> float:
    started = time.perf_counter()
    await page.goto(url, timeout=300_000)  # K visitors opening at once on 2 cores take their time
    await page.wait_for_selector(ready, timeout=180_000)
    await page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=180_000)
    await page.evaluate(PAINTED)
    await page.evaluate(OBSERVE)
    return time.perf_counter() - started


async def timed_change(page, action) -> float:
    """Seconds from ``action()`` (a key press or click) until that run finished and the page painted."""
    done = await page.evaluate("() => window.__runsDone")
    started = time.perf_counter()
    await action()
    await page.wait_for_function(f"() => window.__runsDone > {done}", timeout=120_000, polling="raf")
    await page.evaluate(PAINTED)
    elapsed = time.perf_counter() - started
    if await page.locator('[data-testid="stException"]').count():
        raise RuntimeError("the page shows an exception")
    return elapsed


def slider(page, label: str):
    return page.locator('[data-testid="stSlider"]').filter(has_text=label).locator('input[type="range"]').first


async def set_number(page, label: str, value: int):
    box = page.get_by_label(label, exact=True).and_(page.locator("input"))
    await box.fill(str(value))
    await box.press("Enter")


async def choose(page, label: str, option: str):
    await page.locator('[data-testid="stSelectbox"]').filter(has_text=label).click()
    await page.get_by_role("option", name=option).click()


async def press(page, locator, key: str):
    await locator.focus()
    await locator.press(key)


def zip_task() -> bytes:
    """Five classes of three small drawn images each, as a visitor's zip."""
    import io
    import zipfile

    from PIL import Image, ImageDraw

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for c, name in enumerate(["circle", "cross", "bar", "corner", "dot"]):
            for k in range(3):
                img = Image.new("L", (64, 64), 255)
                d = ImageDraw.Draw(img)
                o = 6 + 3 * k
                [
                    lambda: d.ellipse([o, o, 60 - o, 60 - o], outline=0, width=5),
                    lambda: (d.line([o, o, 60 - o, 60 - o], fill=0, width=5), d.line([o, 60 - o, 60 - o, o], fill=0, width=5)),
                    lambda: d.line([32, o, 32, 60 - o], fill=0, width=6),
                    lambda: d.line([o, o, o, 60 - o, 60 - o, 60 - o], fill=0, width=6, joint="curve"),
                    lambda: d.ellipse([26 - k, 26 - k, 38 + k, 38 + k], fill=0),
                ][c]()
                out = io.BytesIO()
                img.save(out, format="PNG")
                z.writestr(f"{name}/{k}.png", out.getvalue())
    return buf.getvalue()


async def every_control(browser, url: str, repeats: int) -> dict:
    """First paint of each page and the median time of each control (K = 1)."""
    page = await browser.new_page(viewport=VIEWPORT)
    report: dict = {}

    async def measure(name: str, make_action, n: int = repeats) -> None:
        times = []
        for i in range(n):
            times.append(await timed_change(page, make_action(i)))
            await asyncio.sleep(0.3)
        report[name] = round(statistics.median(times), 3)

    # toy page (visited once first: a warm server)
    await open_page(page, url, '[data-testid="stMetric"]')
    report["toy: first paint"] = round(await open_page(page, url, '[data-testid="stMetric"]'), 3)
    await measure("toy: task seed (new task)", lambda i: lambda: set_number(page, "Task seed", 100 + i))
    await timed_change(page, lambda: set_number(page, "Task seed", 0))  # untimed: away from the last value
    await measure("toy: task seed (back to a task seen before, cached)", lambda i: lambda: set_number(page, "Task seed", 100 + i))
    types = ["horizontal, labels swapped", "vertical, labels in order", "vertical, labels swapped"]
    await measure("toy: task type", lambda i: lambda: choose(page, "Task type", types[i % len(types)]))
    await measure("toy: support points per class", lambda i: lambda: press(page, slider(page, "Support points"), "ArrowLeft"))
    await measure("toy: α slider", lambda i: lambda: press(page, slider(page, "α"), "ArrowLeft"))
    await page.get_by_text("Move beyond the training distribution").click()
    await measure("toy: shift x (out of distribution)", lambda i: lambda: press(page, slider(page, "Shift x"), "ArrowRight"))
    await measure("toy: rotate", lambda i: lambda: press(page, slider(page, "Rotate"), "ArrowRight"))
    # Real episodes
    await open_page(page, url + "episodes", '[data-testid="stMetric"]')
    report["episodes: first paint"] = round(await open_page(page, url + "episodes", '[data-testid="stMetric"]'), 3)
    await measure("episodes: episode seed (new episode)", lambda i: lambda: set_number(page, "Episode seed", 100 + i))
    await measure("episodes: MAML steps slider", lambda i: lambda: press(page, slider(page, "MAML inner steps"), "ArrowLeft"))
    shots = ["5", "1", "5"]
    await measure(
        "episodes: shots",
        lambda i: (
            lambda: page.locator('[data-testid="stRadio"]').filter(has_text="Shots").get_by_text(shots[i], exact=True).click()
        ),
    )
    # Your own task: a zip upload, then the settings that recompute predictions
    await open_page(page, url + "own_task", '[data-testid="stFileUploader"]')
    report["own task: first paint"] = round(await open_page(page, url + "own_task", '[data-testid="stFileUploader"]'), 3)
    await page.get_by_role("tab", name="One zip").click()
    data = zip_task()
    report["own task: zip upload (15 images)"] = round(
        await timed_change(
            page,
            lambda: (
                page.locator('[data-testid="stFileUploader"]')
                .filter(has_text="zip")
                .locator('input[type="file"]')
                .set_input_files(files=[{"name": "task.zip", "mimeType": "application/zip", "buffer": data}])
            ),
        ),
        3,
    )
    await page.wait_for_selector('[data-test-script-state="notRunning"]')
    query = page.locator('[data-testid="stFileUploader"]').filter(has_text="Query images").locator('input[type="file"]')
    import io

    from PIL import Image

    png = io.BytesIO()
    Image.new("L", (64, 64), 255).save(png, format="PNG")
    report["own task: query upload (first predictions)"] = round(
        await timed_change(
            page, lambda: query.set_input_files(files=[{"name": "q.png", "mimeType": "image/png", "buffer": png.getvalue()}])
        ),
        3,
    )
    polarities = ["keep", "invert", "auto"]
    await measure(
        "own task: polarity",
        lambda i: (
            lambda: (
                page.locator('[data-testid="stRadio"]').filter(has_text="Polarity").get_by_text(polarities[i], exact=True).click()
            )
        ),
    )
    await measure("own task: MAML steps slider", lambda i: lambda: press(page, slider(page, "MAML inner steps"), "ArrowLeft"))
    # How it works
    await open_page(page, url + "how", '[data-testid="stImage"]')
    report["how it works: first paint"] = round(await open_page(page, url + "how", '[data-testid="stImage"]'), 3)
    await page.close()
    return report


async def visitor(browser, url: str, k: int, changes: int, times: list, errors: list) -> None:
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    try:
        await open_page(page, url, '[data-testid="stMetric"]')
        for i in range(changes):
            times.append(await timed_change(page, lambda i=i: set_number(page, "Task seed", 1000 * k + i)))
        await open_page(page, url + "episodes", '[data-testid="stMetric"]')
        for i in range(changes):
            times.append(await timed_change(page, lambda i=i: set_number(page, "Episode seed", 1000 * k + i)))
    except Exception as exc:  # noqa: BLE001 - counted and reported
        errors.append(f"visitor {k}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        await context.close()


async def load(browser, url: str, k: int, changes: int) -> dict:
    times: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(visitor(browser, url, 100 + j + 10 * k, changes, times, errors) for j in range(k)))
    ordered = sorted(times)
    pick = (lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)) if ordered else (lambda q: None)
    return {
        "visitors": k,
        "changes": len(times),
        "p50_s": pick(0.5),
        "p95_s": pick(0.95),
        "errors": len(errors),
        "error_messages": errors[:5],
        "wall_s": round(time.perf_counter() - started, 1),
    }


async def main_async(args) -> dict:
    from playwright.async_api import async_playwright

    report: dict = {"url_given": bool(args.url)}
    if not args.url and not args.skip_cold:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            report.update(await cold_start(browser))
            await browser.close()
        if args.cold_only:
            return report
    with studio(args.url, report) as url:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            if not args.skip_controls:
                report["controls_s"] = await every_control(browser, url, args.repeats)
            if args.load:
                report["load"] = [await load(browser, url, k, args.changes) for k in args.load]
            await browser.close()
    return report


START, END = "<!-- studio-speed:start -->", "<!-- studio-speed:end -->"


def markdown(report: dict) -> str:
    lines = []
    if "cold_first_paint_s" in report:
        lines += [
            f"Cold start (./run_app.sh started, a browser waiting): first element after {report['cold_first_paint_s']:.1f} s, "
            f"the toy page complete after {report['cold_page_ready_s']:.1f} s.",
            "",
        ]
    if "controls_s" in report:
        lines += ["| page: control | seconds (median) |", "|---|---|"]
        lines += [f"| {k} | {v:.2f} |" for k, v in report["controls_s"].items()]
    if "load" in report:
        lines += ["", "| visitors at once | changes timed | p50 (s) | p95 (s) | errors |", "|---|---|---|---|---|"]
        lines += [f"| {r['visitors']} | {r['changes']} | {r['p50_s']} | {r['p95_s']} | {r['errors']} |" for r in report["load"]]
    if "server_peak_rss_mb" in report:
        lines += ["", memory_sentence(report)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None, help="an already running studio (default: start ./run_app.sh here)")
    parser.add_argument("--repeats", type=int, default=3, help="times each control is changed")
    parser.add_argument("--load", type=int, nargs="*", default=[], metavar="K", help="concurrent visitors, e.g. 1 5 20")
    parser.add_argument("--changes", type=int, default=3, help="with --load: seed changes per page per visitor")
    parser.add_argument("--skip-controls", action="store_true", help="only the load test")
    parser.add_argument("--skip-cold", action="store_true", help="leave out the cold start (a fresh ./run_app.sh)")
    parser.add_argument("--cold-only", action="store_true", help="only the cold start")
    parser.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    parser.add_argument("--readme", action="store_true", help="write the tables into docs/studio.md's studio-speed block")
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    if args.markdown:
        print(markdown(report))
    if args.readme:
        import platform

        from benchmarks.readme import replace_block

        command = "python -m benchmarks.studio_speed --readme" + (f" --load {' '.join(map(str, args.load))}" if args.load else "")
        block = "\n".join(
            [
                START,
                "",
                "**How quickly the studio answers** (a real browser, Debian's chromium through Playwright, on "
                f"the same {os.cpu_count()}-core {platform.machine()} machine as the server; `.venv/bin/{command}` "
                "measured and wrote this):",
                "",
                markdown(report),
                "",
                END,
            ]
        )
        replace_block(block, START, END)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
