"""K concurrent studio sessions over Streamlit's own websocket: the server's answer time with no browser on its cores.

    .venv/bin/python -m benchmarks.studio_load                 # starts ./run_app.sh, K = 1, 5, 20
    .venv/bin/python -m benchmarks.studio_load --k 20 --changes 4 --url http://127.0.0.1:8501/

Each session speaks the protocol Streamlit's browser client speaks (protobuf ``BackMsg`` / ``ForwardMsg`` on
``/_stcore/stream``): it opens the toy page, changes the task seed ``--changes`` times, then opens Real
episodes and changes the episode seed as often, every change a value nobody asked for before (the worst
case: nothing cached). A change is timed from sending the new widget value until the server says the run
finished. Without ``--think`` the sessions change things back to back, as fast as the server answers (robots:
the hardest case); with ``--think MIN MAX`` each also waits MIN..MAX seconds before every change, as a person
looking at the answer does, and both kinds of run are reported. p95 is also given per page. Errors: a run that shows an exception, ends otherwise than successfully, or never ends. Also the
server's peak memory (VmHWM). Last line: one JSON object (seconds, MB).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from urllib.parse import urlparse

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks.process_memory import memory_sentence
from benchmarks.studio_speed import studio


class Session:
    """One visitor: a websocket, the widget ids seen so far, and the page hashes of the app."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.widgets: dict[str, str] = {}  # label -> widget id
        self.pages: dict[str, str] = {}  # url path -> page script hash
        self.page = ""

    async def run(self, widgets: list | None = None, timeout: float = 300.0) -> tuple[float, str | None]:
        """Ask for a rerun; return (seconds until the run finished, an error or None)."""
        msg = BackMsg()
        msg.rerun_script.query_string = ""
        msg.rerun_script.page_script_hash = self.page
        for widget in widgets or []:
            msg.rerun_script.widget_states.widgets.append(widget)
        started = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        error = None
        deadline = started + timeout
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout=max(0.1, deadline - time.perf_counter()))
            fwd = ForwardMsg.FromString(raw)
            kind = fwd.WhichOneof("type")
            if kind == "navigation":
                self.pages = {p.url_pathname: p.page_script_hash for p in fwd.navigation.app_pages}
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                element = fwd.delta.new_element
                which = element.WhichOneof("type")
                if which == "exception":
                    error = f"exception: {element.exception.message[:200]}"
                elif which in ("number_input", "slider", "selectbox", "radio"):
                    widget = getattr(element, which)
                    self.widgets[widget.label] = widget.id
            elif kind == "script_finished":
                if fwd.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue
                if fwd.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                    error = error or f"script finished with status {fwd.script_finished}"
                return time.perf_counter() - started, error

    async def set_int(self, label: str, value: int) -> tuple[float, str | None]:
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        state = WidgetState(id=self.widgets[label], int_value=value)
        return await self.run([state])

    async def open(self, path: str) -> tuple[float, str | None]:
        self.page = self.pages.get(path, "")
        self.widgets = {}
        return await self.run()


async def visitor(url: str, k: int, changes: int, times: list, errors: list, think: tuple[float, float] = (0.0, 0.0)) -> None:
    parsed = urlparse(url)
    ws_url = f"ws://{parsed.netloc}{parsed.path.rstrip('/')}/_stcore/stream"
    try:
        async with websockets.connect(
            ws_url, subprotocols=["streamlit"], origin=f"http://{parsed.netloc}", max_size=None, open_timeout=300
        ) as ws:
            session = Session(ws)
            for page, label in (("", "Task seed"), ("episodes", "Episode seed")):
                _, error = await session.open(page)
                if error:
                    errors.append(f"visitor {k} opening {page or 'toy'}: {error}")
                for i in range(changes):
                    if think[1] > 0:  # a person looks at the answer before the next change
                        await asyncio.sleep(random.Random(10_000 * k + i).uniform(*think))
                    seconds, error = await session.set_int(label, 10_000 * k + i + 1)
                    times.append((page or "toy", seconds))
                    if error:
                        errors.append(f"visitor {k}, {label}: {error}")
    except Exception as exc:  # noqa: BLE001 - counted and reported
        errors.append(f"visitor {k}: {type(exc).__name__}: {str(exc)[:200]}")


def quantiles(values: list[float]) -> dict:
    ordered = sorted(values)

    def pick(q: float):
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else None

    return {"p50_s": pick(0.5), "p95_s": pick(0.95), "max_s": pick(1.0)}


async def load(url: str, k: int, changes: int, offset: int, think: tuple[float, float] = (0.0, 0.0)) -> dict:
    times: list[tuple[str, float]] = []
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(visitor(url, offset + j, changes, times, errors, think) for j in range(k)))
    pages = {page: quantiles([t for p, t in times if p == page]) for page in ("toy", "episodes")}
    return {
        "visitors": k,
        "think_s": list(think),
        "changes": len(times),
        **quantiles([t for _, t in times]),
        "pages": pages,
        "errors": len(errors),
        "error_messages": errors[:5],
        "wall_s": round(time.perf_counter() - started, 1),
    }


def markdown(report: dict) -> str:
    lines = [
        "| sessions at once | pause between changes (s) | changes timed | p50 (s) | p95 (s) | max (s) | p95 toy / episodes (s) | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["load"]:
        pause = "none" if not r["think_s"][1] else f"{r['think_s'][0]:g}–{r['think_s'][1]:g}"
        lines.append(
            f"| {r['visitors']} | {pause} | {r['changes']} | {r['p50_s']} | {r['p95_s']} | {r['max_s']} | "
            f"{r['pages']['toy']['p95_s']} / {r['pages']['episodes']['p95_s']} | {r['errors']} |"
        )
    if "server_peak_rss_mb" in report:
        lines += ["", memory_sentence(report)]
    return "\n".join(lines)


START, END = "<!-- studio-load:start -->", "<!-- studio-load:end -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None, help="an already running studio (default: start ./run_app.sh here)")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5, 20], help="sessions at once")
    parser.add_argument("--changes", type=int, default=3, help="seed changes per page per session")
    parser.add_argument(
        "--think",
        type=float,
        nargs=2,
        default=None,
        metavar=("MIN", "MAX"),
        help="also run every K with a pause drawn uniformly from MIN..MAX seconds before each change "
        "(a person looking at the answer); the runs without a pause are always made",
    )
    parser.add_argument("--readme", action="store_true", help="write the table into docs/studio.md's studio-load block")
    args = parser.parse_args()
    report: dict = {}
    paces = [(0.0, 0.0)] + ([tuple(args.think)] if args.think else [])
    with studio(args.url, report) as url:
        # every run asks for seeds no run before it asked for (offsets differ), so nothing is cached
        report["load"] = [
            asyncio.run(load(url, k, args.changes, offset=10_000 * p + 100 * k, think=pace))
            for p, pace in enumerate(paces)
            for k in args.k
        ]
    print(markdown(report))
    if args.readme:
        from benchmarks.readme import replace_block

        replace_block(
            "\n".join(
                [
                    START,
                    "",
                    f"**The server under load** (`.venv/bin/python -m benchmarks.studio_load --readme "
                    f"--k {' '.join(map(str, args.k))} --changes {args.changes}"
                    + (f" --think {args.think[0]:g} {args.think[1]:g}" if args.think else "")
                    + f"`: Streamlit sessions over its websocket, {os.cpu_count()} cores, every change a task "
                    "or episode nobody asked for before):",
                    "",
                    markdown(report),
                    "",
                    END,
                ]
            ),
            START,
            END,
        )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
