import threading

_settings = None
_lock = threading.Lock()

def get_settings(load):
    """Return the process-wide settings, loading them with `load()` on first use.

    Called from many worker threads. `load()` is slow (it reads a remote config
    service) and may raise; it must run once, and every caller must get the same
    settings object.
    """
    global _settings
    if _settings is None:
        with _lock:
            _settings = load()
    return _settings
