"""Local stand-in for the Slack Web API (`/api/<method>`) and for `response_url` endpoints.

    with SlackStub() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.api_url)
        client.chat_postMessage(channel="C1", text="hi")
        assert slack.calls("chat.postMessage")[0].params["text"] == "hi"

Every request is recorded with its outcome, including the ones answered with a
scripted fault, so tests can assert on what the bot tried as well as what landed.

`enable_socket_mode()` starts a Socket Mode stand-in (devtools/socket_mode_stub.py): `apps.connections.open`
then answers with its `ws://127.0.0.1:…` URL, as Slack answers with a `wss://` one.

Files go through Slack's external upload as `files_upload_v2` makes it: `files.getUploadURLExternal` hands out an
upload URL on this stub (`/upload/<file id>`), the bytes POSTed there are kept, and `files.completeUploadExternal`
shares them into a channel; `uploads()` lists the files shared, with their bytes.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devtools._http import LocalHTTPServer, QuietHandler

JSON_TYPE = "application/json; charset=utf-8"
# Form fields that slack_sdk JSON-encodes when it sends a form body.
_JSON_FIELDS = {"blocks", "attachments", "metadata", "view", "files"}
_CHANNEL_METHODS = {"chat.postMessage", "chat.postEphemeral", "conversations.info"}
_VIEW_METHODS = {"views.publish", "views.open", "views.update"}
_AUTH_TEST = {
    "ok": True,
    "url": "https://acme.slack.com/",
    "team": "Acme",
    "user": "deletion-jobs",
    "team_id": "T1",
    "user_id": "UBOT",
    "bot_id": "BBOT",
    "is_enterprise_install": False,
}


@dataclass
class SlackCall:
    """One Web API request and the answer it got."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    status: int = 200
    response: dict[str, Any] | str = field(default_factory=dict)
    # When it arrived (time.time()), e.g. to tell which scheduled tick a digest post belongs to.
    at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return self.status == 200 and isinstance(self.response, dict) and bool(self.response.get("ok"))


@dataclass
class ResponsePost:
    """One POST to a response_url and the HTTP status it got."""

    key: str
    body: Any
    status: int
    headers: dict[str, str]


@dataclass
class Upload:
    """A file shared with files.completeUploadExternal: its bytes as POSTed to the upload URL."""

    file_id: str
    filename: str
    length: int
    data: bytes | None = None
    title: str | None = None
    channel_id: str | None = None
    initial_comment: str | None = None


@dataclass
class _Channel:
    name: str = "privacy-ops"
    is_member: bool = True
    exists: bool = True
    archived: bool = False


class SlackStub(LocalHTTPServer):
    """Records Web API calls and response_url posts; answers like Slack or as scripted."""

    def __init__(self, *, latency: float = 0.0, response_url_max_uses: int | None = 5):
        super().__init__()
        self.latency = latency
        # Slack accepts at most 5 posts per response_url; None lifts the limit.
        self.response_url_max_uses = response_url_max_uses
        self._cond = threading.Condition()
        self.socket_mode = None
        self.reset()

    def enable_socket_mode(self):
        """Start the Socket Mode stand-in (once); apps.connections.open hands out its URL from now on."""
        if self.socket_mode is None:
            from devtools.socket_mode_stub import SocketModeStub

            self.socket_mode = SocketModeStub()
        return self.socket_mode

    def stop(self) -> None:
        if self.socket_mode is not None:
            self.socket_mode.stop()
            self.socket_mode = None
        super().stop()

    @property
    def api_url(self) -> str:
        """Base URL for `WebClient(base_url=...)`; the trailing slash matters to urljoin."""
        return self.url + "/api/"

    # ---- configuration ------------------------------------------------------------

    def set_channel(
        self,
        channel_id: str,
        *,
        is_member: bool = True,
        exists: bool = True,
        archived: bool = False,
        name: str = "privacy-ops",
    ) -> None:
        with self._cond:
            self._channels[channel_id] = _Channel(name, is_member, exists, archived)

    def queue_response(
        self,
        method: str,
        *,
        status: int = 200,
        body: dict | str | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """The next `times` calls of `method` ("*" for any) get this answer instead of the default.

        `body=None` keeps the default answer for status 200, and means
        `{"ok": false, "error": "ratelimited"}` for 429 (with `Retry-After: 1` unless
        headers say otherwise) or a generic error for other statuses. `delay` holds
        the answer back, e.g. to make a client time out after Slack did post.
        """
        if status == 429:
            headers = {"Retry-After": "1", **(headers or {})}
        with self._cond:
            self._queued.append(
                {
                    "method": method,
                    "status": status,
                    "body": body,
                    "headers": headers or {},
                    "times": times,
                    "delay": delay,
                }
            )

    def response_url(self, key: str | None = None) -> str:
        return f"{self.url}/response/{key or uuid.uuid4().hex}"

    def queue_response_url_reply(self, status: int, body: str = "", *, times: int = 1, key: str | None = None) -> None:
        """Script the next `times` answers of response URLs (all of them, or only `key`'s)."""
        with self._cond:
            self._queued_replies.append({"key": key, "status": status, "body": body, "times": times})

    def reset(self) -> None:
        """Back to a freshly started stub: no records, no scripted answers, default channels."""
        with self._cond:
            self._calls: list[SlackCall] = []
            self._posts: list[ResponsePost] = []
            self._channels: dict[str, _Channel] = {}
            self._queued: list[dict] = []
            self._queued_replies: list[dict] = []
            self._queued_uploads: list[dict] = []
            # file id -> Upload, from files.getUploadURLExternal on; `_shared` in completeUploadExternal order.
            self._files: dict[str, Upload] = {}
            self._shared: list[Upload] = []
            self._last_ts = 0
            # Conversation id → messages posted there, oldest first (conversations.history reads them).
            self._history: dict[str, list[dict]] = {}

    def queue_upload_reply(self, status: int, body: str = "", *, times: int = 1) -> None:
        """Script the next `times` answers of upload URLs (a refused upload keeps no bytes)."""
        with self._cond:
            self._queued_uploads.append({"key": None, "status": status, "body": body, "times": times})

    # ---- observation ------------------------------------------------------------

    def uploads(self, channel: str | None = None) -> list[Upload]:
        """Files shared by files.completeUploadExternal (into `channel`, or anywhere), in order."""
        with self._cond:
            return [u for u in self._shared if channel is None or u.channel_id == channel]

    def wait_for_uploads(self, n: int, timeout: float = 10) -> list[Upload]:
        return self._wait(self.uploads, n, timeout, "shared files")

    def calls(self, method: str | None = None) -> list[SlackCall]:
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Params of chat.postMessage calls that Slack accepted: what people would see."""
        return [
            c.params
            for c in self.calls("chat.postMessage")
            if c.ok and (channel is None or c.params.get("channel") == channel)
        ]

    @staticmethod
    def dm_channel(user_id: str) -> str:
        """The id of the bot's DM with a user, as conversations.open answers it (posts to the user id land there)."""
        return "D" + user_id

    def history(self, channel: str) -> list[dict[str, Any]]:
        """Messages posted to a conversation (a user id means the bot's DM with them), oldest first."""
        with self._cond:
            return list(self._history.get(_conversation(channel), []))

    def views(self, method: str = "views.publish", *, user_id: str | None = None) -> list[dict[str, Any]]:
        """The `view` of every accepted call of `method` (views.publish, views.open, views.update), oldest first;
        for views.publish, only those published for `user_id` when given."""
        return [c.params["view"] for c in self.calls(method)
                if c.ok and (user_id is None or c.params.get("user_id") == user_id)]

    def wait_for_views(self, n: int, *, user_id: str | None = None, method: str = "views.publish",
                       timeout: float = 10) -> list[dict[str, Any]]:
        return self._wait(lambda: self.views(method, user_id=user_id), n, timeout, f"{method} calls (user={user_id})")

    def response_posts(self, key: str | None = None) -> list[ResponsePost]:
        """Every POST to a response URL, accepted or not."""
        with self._cond:
            return [p for p in self._posts if key is None or p.key == key]

    def responses(self, key: str | None = None) -> list[Any]:
        """JSON bodies that response URLs accepted (2xx), in arrival order."""
        return [p.body for p in self.response_posts(key) if 200 <= p.status < 300]

    def wait_for_responses(self, n: int, key: str | None = None, timeout: float = 10) -> list[Any]:
        return self._wait(lambda: self.responses(key), n, timeout, f"response_url posts (key={key})")

    def wait_for_calls(self, method: str | None, n: int, timeout: float = 10) -> list[SlackCall]:
        return self._wait(lambda: self.calls(method), n, timeout, f"{method or 'any'} calls")

    def _wait(self, current, n: int, timeout: float, what: str) -> list:
        with self._cond:
            if not self._cond.wait_for(lambda: len(current()) >= n, timeout):
                got = current()
                raise AssertionError(f"waited {timeout}s for {n} {what}, got {len(got)}: {got!r}")
            return current()

    # ---- request handling (called by the HTTP handler) --------------------------------

    def handle_api(self, method: str, params: dict, headers: dict[str, str]) -> tuple[int, dict | str, dict]:
        with self._cond:
            scripted = self._take(self._queued, lambda q: q["method"] in (method, "*"))
            status, body, extra, delay = 200, None, {}, 0.0
            if scripted:
                status, body, extra, delay = (scripted[k] for k in ("status", "body", "headers", "delay"))
            if body is None:
                body = self._default_answer(method, params, headers) if status == 200 else _error_body(status)
            self._calls.append(SlackCall(method, params, headers, status, body))
            self._cond.notify_all()
        # Recorded first, answered later: like Slack, the post has happened even if
        # the client gives up waiting for the answer.
        self.pause(self.latency + delay)
        return status, body, extra

    def handle_response_url(self, key: str, body: Any, headers: dict[str, str]) -> tuple[int, str]:
        with self._cond:
            used = sum(1 for p in self._posts if p.key == key and 200 <= p.status < 300)
            scripted = self._take(self._queued_replies, lambda q: q["key"] in (key, None))
            if scripted:
                status, text = scripted["status"], scripted["body"]
            elif self.response_url_max_uses is not None and used >= self.response_url_max_uses:
                status, text = 404, "used_url"
            else:
                status, text = 200, "ok"
            self._posts.append(ResponsePost(key, body, status, headers))
            self._cond.notify_all()
        self.pause(self.latency)
        return status, text

    def handle_upload(self, file_id: str, data: bytes) -> tuple[int, str]:
        """The POST of a file's bytes to the URL files.getUploadURLExternal handed out."""
        with self._cond:
            scripted = self._take(self._queued_uploads, lambda q: True)
            upload = self._files.get(file_id)
            if scripted:
                status, text = scripted["status"], scripted["body"]
            elif upload is None:
                status, text = 404, "unknown upload"
            else:
                upload.data = data
                status, text = 200, f"OK - {len(data)}"
            self._cond.notify_all()
        self.pause(self.latency)
        return status, text

    @staticmethod
    def _take(queue: list[dict], matches) -> dict | None:
        for item in queue:
            if matches(item):
                item["times"] -= 1
                if item["times"] <= 0:
                    queue.remove(item)
                return item
        return None

    def _default_answer(self, method: str, params: dict, headers: dict[str, str]) -> dict:
        if not (headers.get("authorization", "").startswith("Bearer ") or params.get("token")):
            return {"ok": False, "error": "not_authed"}
        if method in _CHANNEL_METHODS:
            refusal_or_info = self._channel_answer(method, params)
            if refusal_or_info is not None:
                return refusal_or_info
        if method == "chat.postMessage":
            return self._posted(params)
        if method == "conversations.open":
            users = str(params.get("users") or "")
            if not users or "," in users:
                return {"ok": False, "error": "users_list_not_supplied" if not users else "not_implemented"}
            # Like Slack, opening a DM makes it exist, with no messages yet.
            self._history.setdefault(self.dm_channel(users), [])
            return {"ok": True, "channel": {"id": self.dm_channel(users)}}
        if method == "conversations.history":
            return self._conversation_history(params)
        if method == "apps.connections.open":
            if self.socket_mode is None:
                return {"ok": False, "error": "socket_mode_not_enabled"}
            return {"ok": True, "url": self.socket_mode.url()}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method in _FILE_METHODS:
            return _FILE_METHODS[method](self, params)
        if method == "auth.test":
            return dict(_AUTH_TEST)
        if method in _VIEW_METHODS:
            return self._view_answer(method, params)
        return {"ok": True}

    def _view_answer(self, method: str, params: dict) -> dict:
        """views.publish, views.open and views.update as Slack answers them, refusing what Slack refuses: a view
        that is not an object, over 100 blocks (Home and modals), or a call without its user, trigger or view id."""
        view = params.get("view")
        needed = {"views.publish": "user_id", "views.open": "trigger_id", "views.update": "view_id"}[method]
        if not isinstance(view, dict) or not params.get(needed):
            return {"ok": False, "error": "invalid_arguments"}
        if len(view.get("blocks") or []) > 100:
            problem = "[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]"
            return {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": [problem]}}
        view_id = params.get("view_id") or f"V{self._next_ts().replace('.', '')}"
        return {"ok": True, "view": {**view, "id": view_id}}

    def _channel_answer(self, method: str, params: dict) -> dict | None:
        """conversations.info's answer, or why a post to the channel is refused; None when it may be posted."""
        channel_id = params.get("channel")
        channel = self._channels.get(channel_id, _Channel()) if channel_id else _Channel(exists=False)
        if not channel.exists:
            return {"ok": False, "error": "channel_not_found"}
        if method == "conversations.info":
            return {
                "ok": True,
                "channel": {
                    "id": channel_id,
                    "name": channel.name,
                    "is_channel": True,
                    "is_member": channel.is_member,
                    "is_archived": channel.archived,
                },
            }
        if channel.archived:
            return {"ok": False, "error": "is_archived"}
        if not channel.is_member:
            return {"ok": False, "error": "not_in_channel"}
        if not (params.get("text") or params.get("blocks") or params.get("attachments")):
            return {"ok": False, "error": "no_text"}
        return None

    def _posted(self, params: dict) -> dict:
        ts = self._next_ts()
        message = {"type": "message", "user": "UBOT", "bot_id": "BBOT", "team": "T1", "text": params.get("text", ""),
                   "ts": ts}
        for key in ("blocks", "thread_ts", "metadata"):
            if key in params:
                message[key] = params[key]
        self._history.setdefault(_conversation(params["channel"]), []).append(message)
        return {"ok": True, "channel": params["channel"], "ts": ts, "message": message}

    def _conversation_history(self, params: dict) -> dict:
        """Newest first, after `oldest`, `limit` per page (a cursor is an offset); metadata only when asked for."""
        messages = self._history.get(str(params.get("channel")))
        if messages is None:
            return {"ok": False, "error": "channel_not_found"}
        oldest = float(params.get("oldest") or 0)
        newest_first = [m for m in reversed(messages) if float(m["ts"]) > oldest]
        start = int(params.get("cursor") or 0)
        limit = int(params.get("limit") or 100)
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        page = [m if with_metadata else {k: v for k, v in m.items() if k != "metadata"}
                for m in newest_first[start:start + limit]]
        more = start + limit < len(newest_first)
        return {"ok": True, "messages": page, "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _upload_url(self, params: dict) -> dict:
        try:
            length = int(params.get("length", ""))
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        if not params.get("filename") or length < 1:
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{uuid.uuid4().hex[:10].upper()}"
        self._files[file_id] = Upload(file_id, params["filename"], length)
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, params: dict) -> dict:
        files = params.get("files")
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}
        uploads = [self._files.get(str(item.get("id"))) for item in files if isinstance(item, dict)]
        # Like Slack: a file whose bytes never arrived (or arrived short) cannot be completed.
        if any(u is None or u.data is None or len(u.data) != u.length for u in uploads) or len(uploads) != len(files):
            return {"ok": False, "error": "file_not_found"}
        shared = []
        for upload, item in zip(uploads, files, strict=True):
            upload.title = item.get("title")
            upload.channel_id = params.get("channel_id") or None
            upload.initial_comment = params.get("initial_comment") or None
            self._shared.append(upload)
            shared.append({"id": upload.file_id, "name": upload.filename, "title": upload.title,
                           "size": upload.length, "permalink": f"{self.url}/files/{upload.file_id}"})
        return {"ok": True, "files": shared}

    def _next_ts(self) -> str:
        # Unique and increasing even when two posts land in the same microsecond.
        self._last_ts = max(time.time_ns() // 1000, self._last_ts + 1)
        return f"{self._last_ts // 1_000_000}.{self._last_ts % 1_000_000:06d}"


def _conversation(channel: str) -> str:
    """Where a post to `channel` lands: a user id (U…, W…) means the bot's DM with that user."""
    return SlackStub.dm_channel(channel) if channel[:1] in ("U", "W") else channel


_FILE_METHODS = {
    "files.getUploadURLExternal": SlackStub._upload_url,
    "files.completeUploadExternal": SlackStub._complete_upload,
}


def _error_body(status: int) -> dict:
    if status == 429:
        return {"ok": False, "error": "ratelimited"}
    return {"ok": False, "error": "internal_error" if status >= 500 else "invalid_request"}


def _decode_params(raw: bytes, content_type: str, query: str) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    text = raw.decode("utf-8", errors="replace")
    if content_type.startswith("application/json"):
        params.update(json.loads(text or "{}"))
    elif content_type.startswith("multipart/"):
        params["_raw"] = text
    else:
        params.update(parse_qsl(text, keep_blank_values=True))
        for key in _JSON_FIELDS & params.keys():
            with contextlib.suppress(ValueError):
                params[key] = json.loads(params[key])
    return params


class _Handler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        self._dispatch()

    def _dispatch(self) -> None:
        stub: SlackStub = self.server.owner
        raw = self.read_body()
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        content_type = headers.get("content-type", "")
        if parts.path.startswith("/api/"):
            try:
                params = _decode_params(raw, content_type, parts.query)
            except ValueError:
                self.send_body(200, b'{"ok":false,"error":"invalid_json"}', JSON_TYPE)
                return
            status, body, extra = stub.handle_api(parts.path.removeprefix("/api/"), params, headers)
            payload = json.dumps(body) if isinstance(body, dict) else body
            kind = JSON_TYPE if isinstance(body, dict) else "text/html; charset=utf-8"
            self.send_body(status, payload.encode(), kind, extra)
        elif parts.path.startswith("/upload/") and self.command == "POST":
            status, reply = stub.handle_upload(parts.path.removeprefix("/upload/"), raw)
            self.send_body(status, reply.encode(), "text/plain; charset=utf-8")
        elif parts.path.startswith("/response/") and self.command == "POST":
            text = raw.decode("utf-8", errors="replace")
            try:
                body = json.loads(text)
            except ValueError:
                body = text
            status, reply = stub.handle_response_url(parts.path.removeprefix("/response/"), body, headers)
            self.send_body(status, reply.encode(), "text/html; charset=utf-8")
        else:
            self.send_body(404, b"not found", "text/plain")


SlackStub.handler_class = _Handler
