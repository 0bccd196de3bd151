"""gunicorn settings for the web process: the Bolt app through its WSGI adapter, on gthread workers, on $PORT.

    RUN_SCHEDULER=false gunicorn -c gunicorn.conf.py 'web:create_app()'      (the Procfile's web process)

gunicorn reads PORT and WEB_CONCURRENCY here, as platform configs do; everything else the bot needs comes
from its own settings (config/settings.py). GUNICORN_CMD_ARGS overrides any value below.
"""

import os

bind = [f"0.0.0.0:{os.environ.get('PORT', '3000')}"]

# Bolt answers Slack's HTTP request as soon as the handler calls ack(); the AWS calls and the response_url
# post run afterwards on the bot's own BackgroundRunner. A request thread is therefore held for milliseconds,
# never for an AWS call, and a few threads per worker keep every ack inside Slack's 3 seconds even while
# dozens of answers are still waiting on a slow AWS.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = 8

# boto3 sessions and HTTP pools must be made after the fork, in each worker: never load the app in the master.
preload_app = False

# The gthread main loop heartbeats on its own, so this only catches a wedged worker, not a slow request.
timeout = 30
# After SIGTERM, in-flight requests and acknowledged-but-unanswered commands get this long (the bot's AWS
# deadline is 20 s by default); platforms such as Heroku send SIGKILL 30 s after SIGTERM.
graceful_timeout = 25
keepalive = 5

# Access log: client, method, path without query string, status, bytes, milliseconds. Never bodies or
# headers: a Slack request body carries the response_url, and its headers the signature.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
loglevel = "info"

# gunicorn's admin control socket (gunicornc) would sit in $HOME and be shared by every instance on the host;
# the platform's signals are all the web process needs.
control_socket_disable = True


def worker_exit(server, worker):
    """Let the worker's BackgroundRunner post the answers it still owes Slack before the process exits."""
    shutdown = getattr(getattr(worker, "wsgi", None), "shutdown", None)
    if shutdown is not None:
        shutdown()
