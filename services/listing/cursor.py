"""CursorCodec: paging cursors (`services.models.Cursor`) in a button's `value`, signed, ≤ 2000 characters."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time

from services.errors import ListExpired
from services.models import STATUSES, Cursor, ListQuery, Position

# Slack caps a button's value at 2000 characters; keep room for the details button, which wraps a cursor.
BUTTON_VALUE_LIMIT = 2000
INLINE_LIMIT = 1400
_MAC_BYTES = 12
_VERSION = 2


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Turns cursors into button values and back.

    A value is `<kind>.<body>.<mac>`: kind `c` carries the cursor inline, kind `s` the id of a stored one.
    Anything that does not verify, is past its time, or is not found raises ListExpired.
    """

    def __init__(self, secret: bytes, store, *, ttl_seconds: float, clock=time.time):
        self._secret = secret
        self._store = store
        self._ttl = ttl_seconds
        self._clock = clock

    # -- cursors ------------------------------------------------------------------------------------

    def encode(self, cursor: Cursor) -> str:
        payload = self._payload(cursor)
        value = self._sign("c", _b64(payload.encode()))
        if len(value) <= INLINE_LIMIT:
            return value
        # The query rides beside the id, so an expired stored cursor can still offer "run it again".
        query = _b64(json.dumps([cursor.query.dataset_group_arn, cursor.query.status]).encode())
        return self._sign("s", f"{self._store.put(payload)}~{query}")

    def decode(self, value: str) -> Cursor:
        kind, body = self._verify(value)
        if kind == "c":
            try:
                payload = _unb64(body).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError) as err:
                raise ListExpired("undecodable cursor") from err
        elif kind == "s":
            cursor_id, _, query = body.partition("~")
            payload = self._store.get(cursor_id)
            if payload is None:
                raise ListExpired("stored cursor expired or unknown", query=self._parse_query(query))
        else:
            raise ListExpired(f"unexpected value kind {kind!r}")
        return self._parse(payload)

    # -- details buttons: a job ARN plus the value of the page to go back to ---------------------------

    def encode_details(self, job_arn: str, back_value: str) -> str:
        # The back value is already signed; carrying it as-is (not re-encoded) keeps the whole within 2000.
        value = self._sign("d", f"{_b64(job_arn.encode())}~{back_value}")
        if len(value) > BUTTON_VALUE_LIMIT:
            raise ValueError("details value too long")  # cannot happen with INLINE_LIMIT and a job ARN
        return value

    def decode_details(self, value: str) -> tuple[str, str]:
        kind, body = self._verify(value)
        if kind != "d":
            raise ListExpired("not a details value")
        arn_part, _, back_value = body.partition("~")
        try:
            job_arn = _unb64(arn_part).decode()
        except (ValueError, binascii.Error, UnicodeDecodeError) as err:
            raise ListExpired("undecodable details value") from err
        return job_arn, back_value

    # -- internals -----------------------------------------------------------------------------------

    def _payload(self, cursor: Cursor) -> str:
        after = cursor.after
        fields = [
            _VERSION,
            cursor.query.dataset_group_arn,
            cursor.query.status,
            cursor.api_token,
            after.created_us if after else None,
            after.arn if after else None,
            cursor.page,
            cursor.shown,
            int(self._clock()),
        ]
        return json.dumps(fields, separators=(",", ":"))

    def _parse(self, payload: str) -> Cursor:
        try:
            fields = json.loads(payload)
        except ValueError as err:
            raise ListExpired("malformed cursor") from err
        if not isinstance(fields, list) or len(fields) < 3:
            raise ListExpired("malformed cursor")
        version, group, status = fields[:3]
        if not ((group is None or isinstance(group, str)) and (status is None or status in STATUSES)):
            raise ListExpired("malformed cursor")
        query = ListQuery(dataset_group_arn=group, status=status)
        if version != _VERSION or len(fields) != 9:
            # An offset cursor from before positions (version 1): its list can be run again, not continued.
            raise ListExpired("cursor of another version", query=query if version == 1 else None)
        token, after_us, after_arn, page, shown, issued = fields[3:]
        valid = (
            (token is None or isinstance(token, str))
            and ((after_us, after_arn) == (None, None) or (_is_int(after_us) and isinstance(after_arn, str)))
            and all(_is_int(n) and n >= 0 for n in (page, shown, issued))
        )
        if not valid:
            raise ListExpired("malformed cursor")
        if self._clock() - issued > self._ttl:
            raise ListExpired("cursor past its time", query=query)
        after = Position(after_us, after_arn) if after_arn is not None else None
        return Cursor(query=query, api_token=token, after=after, page=max(page, 1), shown=shown)

    @staticmethod
    def _parse_query(body: str) -> ListQuery | None:
        try:
            group, status = json.loads(_unb64(body))
        except (ValueError, TypeError, binascii.Error):
            return None
        if (group is None or isinstance(group, str)) and (status is None or status in STATUSES):
            return ListQuery(dataset_group_arn=group, status=status)
        return None

    def _mac(self, message: str) -> str:
        digest = hmac.new(self._secret, message.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
        return _b64(digest[:_MAC_BYTES])

    def _sign(self, kind: str, body: str) -> str:
        return f"{kind}.{body}.{self._mac(kind + '.' + body)}"

    def _verify(self, value: object) -> tuple[str, str]:
        if not isinstance(value, str) or len(value) > BUTTON_VALUE_LIMIT:
            raise ListExpired("not a cursor value")
        kind, sep, rest = value.partition(".")
        body, sep2, mac = rest.rpartition(".")
        if not sep or not sep2 or not hmac.compare_digest(mac.encode(), self._mac(kind + "." + body).encode()):
            raise ListExpired("cursor signature does not verify")
        return kind, body


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
