"""The baselines the bot's ack latency is measured against, served exactly as the bot is.

- `bare_200`: a WSGI function that answers 200 without looking at the request (the server's own floor);
- `floor`: Bolt's own floor, a minimal Bolt app with `process_before_response=True` whose `/deletion-jobs`
  listener only acks and hands off (a no-op submitted to a thread pool), behind web.create_wsgi_app's gates;
- `default`: the same listener in a Bolt app with default settings (its listener runner polls for ack()).

`create_*_app()` are gunicorn factories (`gunicorn -c gunicorn.conf.py 'bench.bare_app:create_floor_app()'`);
`python -m bench.serve_app KIND` serves `wsgi_app(KIND)` as `python bot.py` would.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

KINDS = ("bare_200", "floor", "default")


def bare_200(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return [b""]


def _bolt_app(*, process_before_response: bool):
    from slack_bolt import App

    from app_factory import build_web_client
    from config import load_settings
    from web import create_wsgi_app

    settings = load_settings()
    secret = settings.slack_signing_secret.get_secret_value()
    # The same client as the bot's (SLACK_API_URL): Bolt calls auth.test on the first request.
    app = App(signing_secret=secret, client=build_web_client(settings), token_verification_enabled=False,
              process_before_response=process_before_response)
    pool = ThreadPoolExecutor(4, thread_name_prefix="bench-handoff")

    @app.command("/deletion-jobs")
    def ack_and_hand_off(ack):
        ack()
        pool.submit(lambda: None)

    return create_wsgi_app(app, secret)


def wsgi_app(kind: str):
    if kind == "bare_200":
        return bare_200
    if kind in ("floor", "default"):
        return _bolt_app(process_before_response=kind == "floor")
    raise ValueError(f"unknown app {kind!r}: one of {', '.join(KINDS)}")


def _asgi(kind: str):
    from web import create_asgi_app

    return create_asgi_app(wsgi_app(kind))


def create_bare_200():
    return _asgi("bare_200")


def create_floor_app():
    return _asgi("floor")


def create_default_app():
    return _asgi("default")
