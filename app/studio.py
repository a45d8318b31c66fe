"""HyperMAML Studio: the Streamlit entry point (``./run_app.sh`` serves it)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run app/studio.py` puts app/ on the path, not the project
    sys.path.insert(0, str(ROOT))


def main() -> None:
    import streamlit as st

    import app.warmup  # noqa: F401  - heavy imports once, and the worker processes, before any page runs

    st.set_page_config(page_title="HyperMAML Studio", page_icon=":material/hub:", layout="wide")
    pages = [
        st.Page("views/toy.py", title="One update vs k steps", icon=":material/scatter_plot:", default=True),
        st.Page("views/episodes.py", title="Real episodes", icon=":material/grid_view:"),
        st.Page("views/own_task.py", title="Your own task", icon=":material/photo_library:"),
        st.Page("views/room.py", title="Classroom", icon=":material/groups:"),
        st.Page("views/how.py", title="How it works", icon=":material/lightbulb:"),
    ]
    st.navigation(pages).run()


# The studio's worker processes (app/compute.py, app/live_training.py) are spawned fresh, and Python's spawn
# re-imports the parent's main script in them under the name "__mp_main__": they serve no page.
if __name__ != "__mp_main__":
    main()
