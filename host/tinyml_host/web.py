"""`tinyml web`: serve the telemetry web page (host/web) on localhost.

The page talks to the board itself, through Web Bluetooth in the browser; this server only
hands out static files. Web Bluetooth needs a secure context: https, or http on localhost,
which is why the default address is 127.0.0.1.
"""

from __future__ import annotations

import functools
import http.server
from pathlib import Path

from .errors import TinymlError

# The page lives in the repository beside the package (host/web), as device/ does for
# `tinyml deploy`: tinyml is installed editable from a checkout (`make setup`), so both are
# found relative to this file. A copy elsewhere (e.g. a wheel without the checkout) passes
# --dir, and a missing page is a clear error rather than a server answering 404s.
PAGE_DIR = Path(__file__).resolve().parents[1] / "web"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".css": "text/css", ".md": "text/plain; charset=utf-8"}

    def __init__(self, *args, quiet: bool = False, **kwargs):
        self._quiet = quiet
        super().__init__(*args, **kwargs)

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")  # an edited page shows on reload
        super().end_headers()

    def log_message(self, format, *args):
        if not self._quiet:
            super().log_message(format, *args)


def page_dir(directory: Path | str | None = None) -> Path:
    path = Path(directory) if directory else PAGE_DIR
    if not (path / "index.html").is_file():
        raise TinymlError(f"the telemetry page is not in {path} (no index.html): run from a tinyml "
                          "checkout (host/web) or pass --dir with a copy of host/web")
    return path


def make_server(host: str = "127.0.0.1", port: int = 8000, directory: Path | str | None = None,
                quiet: bool = False) -> http.server.ThreadingHTTPServer:
    """A server for the page, bound but not yet serving; port 0 picks a free one."""
    handler = functools.partial(_Handler, directory=str(page_dir(directory)), quiet=quiet)
    try:
        return http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as e:
        raise TinymlError(f"cannot listen on {host}:{port} ({e.strerror}): try another --port") from None


def url_of(server: http.server.ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    host = "localhost" if host in ("127.0.0.1", "::1") else host
    return f"http://{host}:{port}/"


def run(host: str = "127.0.0.1", port: int = 8000, directory: Path | str | None = None) -> int:
    from . import term

    server = make_server(host, port, directory)
    url = url_of(server)
    port = server.server_address[1]
    lines = [term.wrap(f"serving at {url} (Ctrl-C stops): {page_dir(directory)}", first="", indent="  "),
             term.wrap(f"open {url} in Chrome or Edge (Web Bluetooth: Chrome on Android, Windows, macOS, "
                       "ChromeOS; on Linux enable chrome://flags/#enable-experimental-web-platform-features)",
                       first="  laptop: ", indent=" " * 10),
             term.wrap(f"over USB, `adb reverse tcp:{port} tcp:{port}`, then open http://localhost:{port}/ in Chrome "
                       "on the phone; or put host/web on any https host (static files only)",
                       first="  phone:  ", indent=" " * 10)]
    if host not in LOCAL_HOSTS:
        lines.append(term.wrap(f"http://{host}:{port}/ is not a secure context for other devices: browsers hide "
                               "Web Bluetooth there; use localhost (adb reverse) or https",
                               first="  note:   ", indent=" " * 10))
    print("\n".join(lines), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # the usual way to stop a server, not an error
        print("stopped")
    finally:
        server.server_close()
    return 0
