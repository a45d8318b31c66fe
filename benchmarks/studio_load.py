"""K concurrent studio sessions over Streamlit's own websocket: the server's answer time with no browser on its cores.

    .venv/bin/python -m benchmarks.studio_load                 # starts ./run_app.sh, K = 1, 5, 20
    .venv/bin/python -m benchmarks.studio_load --k 20 --changes 4 --url http://127.0.0.1:8501/

Each session speaks the protocol Streamlit's browser client speaks (protobuf ``BackMsg`` / ``ForwardMsg`` on
``/_stcore/stream``): it opens the toy page, changes the task seed ``--changes`` times, then opens Real
episodes and changes the episode seed as often, every change a value nobody asked for before (the worst
case: nothing cached). A change is timed from sending the new widget value until the server says the run
finished. Errors: a run that shows an exception, ends otherwise than successfully, or never ends. Also the
server's peak memory (VmHWM). Last line: one JSON object (seconds, MB).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from urllib.parse import urlparse

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

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


async def visitor(url: str, k: int, changes: int, times: list, errors: list) -> None:
    parsed = urlparse(url)
    ws_url = f"ws://{parsed.netloc}{parsed.path.rstrip('/')}/_stcore/stream"
    try:
        async with websockets.connect(ws_url, subprotocols=["streamlit"], origin=f"http://{parsed.netloc}",
                                      max_size=None, open_timeout=300) as ws:
            session = Session(ws)
            for page, label in (("", "Task seed"), ("episodes", "Episode seed")):
                _, error = await session.open(page)
                if error:
                    errors.append(f"visitor {k} opening {page or 'toy'}: {error}")
                for i in range(changes):
                    seconds, error = await session.set_int(label, 10_000 * k + i + 1)
                    times.append(seconds)
                    if error:
                        errors.append(f"visitor {k}, {label}: {error}")
    except Exception as exc:  # noqa: BLE001 - counted and reported
        errors.append(f"visitor {k}: {type(exc).__name__}: {str(exc)[:200]}")


async def load(url: str, k: int, changes: int, offset: int) -> dict:
    times: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(visitor(url, offset + j, changes, times, errors) for j in range(k)))
    ordered = sorted(times)

    def pick(q: float):
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else None

    return {"visitors": k, "changes": len(times), "p50_s": pick(0.5), "p95_s": pick(0.95), "max_s": pick(1.0),
            "errors": len(errors), "error_messages": errors[:5], "wall_s": round(time.perf_counter() - started, 1)}


def markdown(report: dict) -> str:
    lines = ["| sessions at once | changes timed | p50 (s) | p95 (s) | max (s) | errors |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['visitors']} | {r['changes']} | {r['p50_s']} | {r['p95_s']} | {r['max_s']} | {r['errors']} |" for r in report["load"]]
    if "server_peak_rss_mb" in report:
        lines += ["", f"Server peak memory over the whole run: {report['server_peak_rss_mb']:.0f} MB."]
    return "\n".join(lines)


START, END = "<!-- studio-load:start -->", "<!-- studio-load:end -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None, help="an already running studio (default: start ./run_app.sh here)")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5, 20], help="sessions at once")
    parser.add_argument("--changes", type=int, default=3, help="seed changes per page per session")
    parser.add_argument("--readme", action="store_true", help="write the table into README.md's studio-load block")
    args = parser.parse_args()
    report: dict = {}
    with studio(args.url, report) as url:
        report["load"] = [asyncio.run(load(url, k, args.changes, offset=100 * k)) for k in args.k]
    print(markdown(report))
    if args.readme:
        from benchmarks.readme import replace_block

        replace_block("\n".join([START, "", f"**The server under load** (`.venv/bin/python -m benchmarks.studio_load --readme "
                                 f"--k {' '.join(map(str, args.k))} --changes {args.changes}`: Streamlit sessions over its "
                                 f"websocket, {os.cpu_count()} cores, every change a task or episode nobody asked for before):",
                                 "", markdown(report), "", END]), START, END)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
