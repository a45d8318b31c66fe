"""Imports the studio's heavy, lazily imported libraries once, before any page runs.

Streamlit runs every visitor's script in its own thread; when the first visitors arrive together, two threads
importing pandas (which ``st.table`` loads on first use) at the same moment can see a half-initialised module.
``app/studio.py`` imports this module first: Python's per-module import lock lets one thread run the imports
below while the others wait for it. While the workers are still starting, the toy page (the first page most
visitors see) computes in the server itself (``app.workers.run(..., here_while_warming=True)``), so the first
visitor after a start does not wait for them; ``app/studio.py`` shows a note until this module is imported.
"""

import gc

from app import workers

# The worker processes start first, in the background (none without HYPERMAML_STUDIO_WORKERS): their fork
# server imports torch and loads the models on the other core while this process imports the rest.
workers.warm_up()

import matplotlib.backends.backend_agg  # noqa: E402, F401  - the toy panels
import matplotlib.figure  # noqa: E402, F401
import pandas  # noqa: E402, F401  - st.table / st.dataframe
import plotly.graph_objects  # noqa: E402, F401
import plotly.subplots  # noqa: E402, F401
import pyarrow  # noqa: E402, F401  - Streamlit's dataframe serialisation

from hypermaml.memory import keep_freed_memory  # noqa: E402

keep_freed_memory()  # every new task allocates and frees the same buffers: keep them in the process
workers.import_library()  # torch and the library, before the visitors' threads need them

# Everything imported so far lives as long as the server: keep it out of the garbage collector's full passes,
# which otherwise walk these millions of objects while every visitor's thread waits for the interpreter lock.
gc.freeze()
READY = True  # app/studio.py shows a "starting" note to the first visitors until this is set
