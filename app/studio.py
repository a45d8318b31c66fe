"""HyperMAML Studio: the Streamlit entry point (``./run_app.sh`` serves it)."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run app/studio.py` puts app/ on the path, not the project
    sys.path.insert(0, str(ROOT))

# Every page: less padding than Streamlit's 5rem a side (at 1024 px beside the sidebar that left a 564 px column),
# titles that fit a line or two, and a picture given a width in pixels never wider than its column (Streamlit's
# image wrapper grows to the asked width inside columns and fragments), and a table wider than a phone scrolls
# sideways on its own instead of dragging the whole page with it; a link in a code box breaks anywhere, filling its
# lines, rather than at its "?" and "=" (four ragged lines for a room link in a narrow column); on a phone a figure
# in a "wide_figure_" container keeps a readable width and scrolls sideways, as a table does (shrunk to a 390 px
# screen, the toy's eight panels had text 5 px high); below each "wide_" container (those figures, the wide
# tables) a line says it scrolls sideways on the screens where it does (a phone shows no scroll bar until touched):
# CSS cannot see overflow, so each has the width below which it overflows (tests/test_browser.py checks them).
LAYOUT_CSS = """<style>
[data-testid="stMainBlockContainer"] {padding-left: 2rem; padding-right: 2rem; padding-top: 3.5rem;}
h1 {font-size: 2.1rem !important;}
[data-testid="stImage"] div {max-width: 100%;}
[data-testid="stMarkdownContainer"] table {display: block; max-width: 100%; overflow-x: auto;}
[data-testid="stCode"] code {word-break: break-all;}
@media (max-width: 640px) {
  [class*="st-key-wide_figure_"] [data-testid="stImage"] {overflow-x: auto;}
  [class*="st-key-wide_figure_"] [data-testid="stImage"] div {max-width: none;}
  [class*="st-key-wide_figure_"] [data-testid="stImage"] img {min-width: 600px;}
  [class*="st-key-wide_figure_"]::after {content: "↔ Swipe sideways to see all of it"; font-size: 0.8rem; opacity: 0.7;}
}
@media (max-width: 669px) {
  [class*="st-key-wide_table_benchmark"]::after {content: "↔ Swipe sideways to see all of it"; font-size: 0.8rem; opacity: 0.7;}
}
@media (max-width: 460px) {
  [class*="st-key-wide_table_update"]::after {content: "↔ Swipe sideways to see all of it"; font-size: 0.8rem; opacity: 0.7;}
}
</style>"""
# Presenter mode: no sidebar, no toolbar, the page from the top of the screen.
PRESENTER_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
header[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"] {display: none !important;}
[data-testid="stMainBlockContainer"] {padding-top: 0.75rem; padding-left: 1.5rem; padding-right: 1.5rem;}
h1 {font-size: 1.75rem !important; padding-top: 0.25rem !important;}
</style>"""


def warm_up_showing_progress(st) -> None:
    """The first visitor after a start waits for torch, the models and the worker processes: say so at once,
    rather than leave the page blank (``app.warmup`` sets READY when it is done; later visitors skip this)."""
    if getattr(sys.modules.get("app.warmup"), "READY", False):
        return
    note = st.empty()
    note.info(
        "Starting the studio: loading PyTorch, the models and the worker processes. This happens once after the "
        "server starts and takes a few seconds; the page appears as soon as it is done.",
        icon=":material/hourglass_top:",
    )
    import app.warmup  # noqa: F401  - heavy imports once, and the worker processes, before any page runs

    note.empty()


def set_presenter(on: bool) -> None:
    import streamlit as st

    from app import url_state

    st.session_state[url_state.PRESENTER.key] = on


@functools.cache
def page_icon():
    """The browser tab's icon, drawn here and served by the studio itself: a Material or emoji icon would be
    fetched from the internet, which a classroom network may not reach. Two classes split by a boundary, in
    HyperMAML's and MAML's colours."""
    from PIL import Image, ImageDraw

    from app.figures import METHOD_COLOURS

    size = 64
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, size - 1, size - 1), radius=14, fill=255)
    icon = Image.new("RGBA", (size, size), METHOD_COLOURS["maml"])
    ImageDraw.Draw(icon).polygon([(0, 0), (size, 0), (0, size)], fill=METHOD_COLOURS["hypermaml"])
    icon.putalpha(mask)
    return icon


def main() -> None:
    import streamlit as st

    st.set_page_config(page_title="HyperMAML Studio", page_icon=page_icon(), layout="wide")
    st.html(LAYOUT_CSS)
    warm_up_showing_progress(st)
    from app import url_state

    url_state.seed_shared()
    presenting = url_state.presenter()
    pages = [
        st.Page("views/toy.py", title="One update vs k steps", icon=":material/scatter_plot:", default=True),
        st.Page("views/episodes.py", title="Real episodes", icon=":material/grid_view:"),
        st.Page("views/own_task.py", title="Your own task", icon=":material/photo_library:"),
        st.Page("views/room.py", title="Classroom", icon=":material/groups:"),
        st.Page("views/how.py", title="How it works", icon=":material/lightbulb:"),
    ]
    page = st.navigation(pages, position="hidden" if presenting else "sidebar")
    if presenting:
        st.html(PRESENTER_CSS)
        with st.container(horizontal=True, vertical_alignment="center", key="presenter_bar"):
            for p in pages:
                st.page_link(p, label=p.title, icon=p.icon)
            st.space("stretch")
            st.button(
                "Leave presenter mode",
                icon=":material/close_fullscreen:",
                key="presenter_off",
                on_click=set_presenter,
                args=(False,),
            )
    else:
        st.sidebar.button(
            "Presenter mode",
            icon=":material/co_present:",
            key="presenter_on",
            on_click=set_presenter,
            args=(True,),
            help="For a projector: no sidebar or toolbar, larger figures with fewer panels, and a button that plays "
            "MAML's steps one at a time. The setting is in the page's link.",
            width="stretch",
        )
    page.run()


# The studio's other processes (app/workers.py's fork server, app/live_training.py's trainer) start as fresh
# interpreters, and Python's spawn re-imports the parent's main script in them under the name "__mp_main__":
# they serve no page.
if __name__ != "__mp_main__":
    main()
