"""`python -m bench.serve_app KIND`: one of bench/bare_app.py's apps on $PORT, through `python bot.py`'s own HTTP
server (web.make_http_server), so the baselines and the bot are served alike."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bare_app import KINDS, wsgi_app  # noqa: E402
from config import load_settings  # noqa: E402
from web import make_http_server  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in KINDS:
        print(f"usage: python -m bench.serve_app {{{','.join(KINDS)}}}", file=sys.stderr)
        return 2
    server = make_http_server(wsgi_app(argv[0]), "127.0.0.1", load_settings().port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
