"""Imported once by the studio's fork server (``app.workers.Workers``) before it forks any worker: torch, the
models and the default images are then loaded once and shared by every worker, which only reads them.

The fork server imports this module with a plain ``__import__`` and dies on any exception but ImportError, so
nothing here may raise: a failure is printed and the workers load what they need themselves, as before.
"""

import gc
import sys
import traceback

try:
    from app import workers

    workers.preload()
except Exception:  # noqa: BLE001 - see above: the workers still start, and load lazily
    print("hypermaml studio: preloading the workers failed; each worker loads what it needs", file=sys.stderr)
    traceback.print_exc()

# Everything loaded so far lives as long as the workers: out of the collector's passes, whose writes to every
# object's header would otherwise copy the shared pages into each worker one by one.
gc.freeze()
