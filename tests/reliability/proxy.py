"""A TCP proxy in the test process that can be cut and restored: the database (or Redis) "goes
away" for the app behind it while the shared server keeps running for everyone else."""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttableProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target``. :meth:`cut` drops every open connection and
    answers new ones by closing them at once (as a database that went away); :meth:`hang`
    keeps every connection open but silent — what is sent is swallowed, new connections are
    accepted and never answered (as a network partition, where only timeouts tell); :meth:`restore`
    forwards again (connections accepted while hanging are closed)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._up = True
        self._hanging = False
        self._held: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, name="db-proxy", daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            self._up = False
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def hang(self) -> None:
        with self._lock:
            self._hanging = True

    def restore(self) -> None:
        with self._lock:
            self._up = True
            self._hanging = False
            for sock in self._held:
                sock.close()
            self._held.clear()

    def close(self) -> None:
        self._closed = True
        self.restore()
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if not self._up:
                    client.close()
                    continue
                if self._hanging:
                    self._held.append(client)
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                self._open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self._hanging:
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
