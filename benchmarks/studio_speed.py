"""Time the studio in a real browser: first paint of the toy page and the re-render after moving α.

    ./run_app.sh &                                   # or PORT=... ./run_app.sh
    .venv/bin/python -m benchmarks.studio_speed --url http://localhost:8501/

Needs Debian's chromium. First paint: from navigation until the page has finished running. Re-render:
from an α-slider key press until the α figure's title shows the new value (the browser has drawn it).
Last line: one JSON object (seconds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://localhost:8501/")
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        start = time.perf_counter()
        page.goto(args.url)
        page.wait_for_selector('[data-testid="stMetric"]', timeout=120_000)
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=120_000)
        first_paint = time.perf_counter() - start
        time.sleep(2)
        slider = page.locator('[data-testid="stSlider"]').last.locator("input").first  # the α slider
        alpha, times = 1.0, []
        for _ in range(args.repeats):
            slider.focus()
            alpha -= 0.05
            start = time.perf_counter()
            page.keyboard.press("ArrowLeft")
            page.wait_for_function(
                "e => Array.from(document.querySelectorAll('.gtitle')).some(t => t.textContent.includes(e))",
                arg=f"θ + {alpha:.2f}·Δθ", timeout=30_000)
            times.append(time.perf_counter() - start)
            time.sleep(1)
        browser.close()
    print(json.dumps({"first_paint_s": round(first_paint, 2), "alpha_rerender_median_s": round(statistics.median(times), 3),
                      "alpha_rerender_s": [round(t, 3) for t in times]}))


if __name__ == "__main__":
    main()
