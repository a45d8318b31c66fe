"""Imports the studio's heavy, lazily imported libraries once, before any page runs.

Streamlit runs every visitor's script in its own thread; when the first visitors arrive together, two threads
importing pandas (which ``st.table`` loads on first use) at the same moment can see a half-initialised module.
``app/studio.py`` imports this module first: Python's per-module import lock lets one thread run the imports
below while the others wait for it.
"""

import pandas  # noqa: F401  - st.table / st.dataframe
import plotly.graph_objects  # noqa: F401
import plotly.subplots  # noqa: F401
import pyarrow  # noqa: F401  - Streamlit's dataframe serialisation

