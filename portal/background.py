"""One daemon thread per process, started on first use (the verification log's writer, the shared
cache's notice listener). A forked child never inherits a running one: it starts its own."""

import os
import threading


class ProcessThread:
    def __init__(self, target, name: str):
        self.target, self.name = target, name
        self._lock = threading.Lock()
        self._running: tuple[int, threading.Thread] | None = None

    def current(self) -> threading.Thread | None:
        """This process's thread, if it was started here."""
        running = self._running
        return running[1] if running is not None and running[0] == os.getpid() else None

    def ensure(self) -> None:
        thread = self.current()
        if thread is not None and thread.is_alive():
            return
        with self._lock:
            thread = self.current()
            if thread is not None and thread.is_alive():
                return
            thread = threading.Thread(target=self.target, name=self.name, daemon=True)
            self._running = (os.getpid(), thread)
            thread.start()

    def forget(self) -> threading.Thread | None:
        """Drop the record of the thread (after a fork, or when stopping it); returns this process's."""
        thread = self.current()
        self._running = None
        self._lock = threading.Lock()
        return thread
