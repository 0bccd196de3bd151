"""A one-answer HTTP server for gateway tests: every POST gets HTTP 200 with the same raw body."""

from __future__ import annotations

from devtools._http import LocalHTTPServer, QuietHandler


class _Handler(QuietHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        owner: RawAnswerServer = self.server.owner
        self.read_body()
        owner.requests += 1
        self.send_body(200, owner.body, "application/x-amz-json-1.1", {"x-amzn-RequestId": owner.request_id})


class RawAnswerServer(LocalHTTPServer):
    handler_class = _Handler

    def __init__(self, body: bytes, *, request_id: str):
        super().__init__()
        self.body = body
        self.request_id = request_id
        self.requests = 0
