"""The serving loop shared by the example's license server and receiver."""

import signal
import threading
from http.server import ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(server):
    """Serves until SIGTERM or SIGINT, then shuts down cleanly."""
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.serve_forever,
                              kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    while not stop.wait(0.5):
        if not thread.is_alive():
            break
    server.shutdown()
    server.server_close()
    thread.join(5)
