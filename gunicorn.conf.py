"""gunicorn settings for the web process: the bot's app on gunicorn's asyncio `asgi` workers, on $PORT.

    RUN_SCHEDULER=false gunicorn -c gunicorn.conf.py 'web:create_app()'      (the Procfile's web process)

gunicorn reads PORT and WEB_CONCURRENCY here, as platform configs do; everything else the bot needs comes
from its own settings (config/settings.py). GUNICORN_CMD_ARGS overrides any value below.
"""

import glob
import os
import shutil
import tempfile

bind = [f"0.0.0.0:{os.environ.get('PORT', '3000')}"]

# The asgi worker reads every request on an event loop: a client that sends its headers or body slowly costs
# a socket, not a thread (with gthread, 16 such clients held every thread and real commands missed Slack's
# 3 seconds). web.create_app() returns web_server.AsgiBridge, which runs the WSGI app (Bolt) on a few threads
# of its own once the whole request has arrived; Bolt answers at ack(), and the AWS calls and the response_url
# post run afterwards on the bot's BackgroundRunner, so those threads are held for milliseconds.
# web_server.AsgiWorker is gunicorn's "asgi" worker plus a 10 s deadline for a connection's first request head.
worker_class = "web_server.AsgiWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))

# boto3 sessions and HTTP pools must be made after the fork, in each worker: never load the app in the master.
preload_app = False

# The worker's event loop heartbeats on its own, so this only catches a wedged worker, not a slow request. The
# asgi worker also waits at most this long for each piece of a request body.
timeout = 30
# After SIGTERM, in-flight requests and acknowledged-but-unanswered commands get this long (the bot's AWS
# deadline is 20 s by default); platforms such as Heroku send SIGKILL 30 s after SIGTERM.
graceful_timeout = 25
keepalive = 5

# Access log: client, method, path without query string, status, bytes, milliseconds. Never bodies or
# headers: a Slack request body carries the response_url, and its headers the signature.
# `%(U)s` is the path as sent, never percent-decoded (web_server.AccessLogger): a decoded %0A or %1B would let
# anyone write a forged line or a terminal escape into this log.
logger_class = "web_server.AccessLogger"
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
loglevel = "info"

# Request heads: gunicorn's defaults (100 fields of up to 8,190 bytes) let one request make the worker's event loop
# parse ~800 KB of headers; 100 such connections delayed a real ack by 4.3 s. Slack sends ~15 short headers (the
# longest, User-Agent and X-Slack-Signature, under 100 bytes) and a request line like "POST /slack/events HTTP/1.1";
# these leave room for the headers a proxy or CDN adds (X-Forwarded-*, trace ids, an access JWT) and cap a head at
# ~160 KB. A head over them is refused (400, 414 or 431) before the app sees it.
limit_request_line = 2048
limit_request_fields = 40
limit_request_field_size = 4096

# GET /metrics adds up every worker's values: prometheus_client's multiprocess mode, which reads
# PROMETHEUS_MULTIPROC_DIR when the worker imports it. `on_starting` (below) sets it in the master before any worker
# forks: a fresh directory per start, or the operator's own, emptied (files left by an earlier run would count).
_OWN_METRICS_DIR: list[str] = []

# gunicorn's admin control socket (gunicornc) would sit in $HOME and be shared by every instance on the host;
# the platform's signals are all the web process needs.
control_socket_disable = True


def worker_exit(server, worker):
    """Let the worker's BackgroundRunner post the answers it still owes Slack before the process exits."""
    app = getattr(worker, "asgi", None) or getattr(worker, "wsgi", None)
    shutdown = getattr(app, "shutdown", None)
    if shutdown is not None:
        shutdown()


def on_starting(server):
    """In the master, before the workers fork: the directory every worker writes its metric values to."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        for stale in glob.glob(os.path.join(given, "*.db")):
            os.remove(stale)
    else:
        _OWN_METRICS_DIR.append(tempfile.mkdtemp(prefix="deletion-jobs-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _OWN_METRICS_DIR[0]


def child_exit(server, worker):
    """A worker that exited: drop its live gauges (its counters and histograms still count, as Prometheus wants)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    for directory in _OWN_METRICS_DIR:
        shutil.rmtree(directory, ignore_errors=True)
