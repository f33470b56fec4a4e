"""numba's one-off start in a process, begun early in a background thread, and the imports of
the SciPy parts the decoders use (0.45 s that commands running no decoder, `multipose models`,
skip: the codecs import them where they use them).

Even with every kernel cached on disk, the first kernel a process calls makes numba load its
typing and lowering registries (hundreds of modules: 0.3 s on a quiet 2-core machine, 1.5-2.3 s
on a busy one), which was most of a first decode's time. A pipeline starts this when it is
built, so that it overlaps the model's loading and its first network call (which release the
GIL); a kernel called before it is done waits for it (numba's compiler lock) and loses nothing.
"""

from __future__ import annotations

import threading

from numba import njit

_thread: threading.Thread | None = None
_lock = threading.Lock()


@njit(cache=True)
def _nothing() -> int:
    return 0


def start_numba() -> threading.Thread:
    """Start numba (once per process) in a daemon thread; returns that thread. The SciPy parts
    are imported first, in the caller's thread: imported in the daemon one, they held the GIL
    through the first photo (0.35 s more than with them here, while the model loads)."""
    global _thread
    with _lock:
        if _thread is None:
            import scipy.ndimage
            import scipy.optimize
            import scipy.sparse.csgraph  # noqa: F401

            _thread = threading.Thread(target=_nothing, name="numba start", daemon=True)
            _thread.start()
    return _thread
