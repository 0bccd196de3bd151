"""The Slack app manifests declare the command the code registers and exactly the bot scopes the code needs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from handlers.commands import COMMAND
from tests.helpers.credentials import SIGNING_SECRET

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = {"http": ROOT / "manifest.yml", "socket": ROOT / "manifest.socket.yml"}
EVENTS_PATH = "/slack/events"

# The bot scope each Slack Web API method needs (api.slack.com/methods/<method>, "Required scopes").
# conversations.info needs channels:read for public and groups:read for private channels.
SCOPES_BY_METHOD = {
    "chat.postMessage": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.delete": {"chat:write"},
    "conversations.info": {"channels:read", "groups:read"},
    # Watches (issue 11) read the bot's own DM with a watcher, to find a message whose post was in doubt.
    "conversations.open": {"im:write"},
    "conversations.history": {"im:history"},
    # An export's file goes to the requester's DM (opened as above), never to a channel.
    "files.getUploadURLExternal": {"files:write"},
    "files.completeUploadExternal": {"files:write"},
    # The Home tab (issue 13): publishing it, and the Details modal, need no scope.
    "views.publish": set(),
    "views.open": set(),
    "views.update": set(),
    "auth.test": set(),
}
# slack_sdk helpers that make several Web API calls (slack_sdk/web/client.py files_upload_v2).
SDK_HELPERS = {"files.upload_v2": {"files.getUploadURLExternal", "files.completeUploadExternal"}}

# `client.chat_postMessage(` → chat.postMessage; `api_call("chat.postMessage"` → the same.
_SDK_CALL = re.compile(r"\.(admin|apps|auth|bots|chat|conversations|files|pins|reactions|reminders|search|team|"
                       r"usergroups|users|views)_([A-Za-z][A-Za-z0-9_]*)\(")
_API_CALL = re.compile(r"api_call\(\s*[\"']([a-z]+\.[A-Za-z.]+)[\"']")


def load(kind: str) -> dict:
    return yaml.safe_load(MANIFESTS[kind].read_text())


def web_api_methods_in(source: str) -> set[str]:
    found = {f"{family}.{name}" for family, name in _SDK_CALL.findall(source)} | set(_API_CALL.findall(source))
    for helper, calls in SDK_HELPERS.items():
        if helper in found:
            found = (found - {helper}) | calls
    return found


def web_api_methods_in_code() -> dict[str, set[str]]:
    """Slack Web API method → the files of the bot's own code that call it (tests, stand-ins, benchmarks excluded)."""
    methods: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT).parts
        if relative[0] in {".venv", "tests", "devtools", "bench"} or relative[0].startswith("."):
            continue
        for method in web_api_methods_in(path.read_text(encoding="utf-8")):
            methods.setdefault(method, set()).add("/".join(relative))
    return methods


def scopes_needed() -> set[str]:
    """The bot scopes of the Web API methods the code calls; nothing is needed just because it is listed here."""
    methods = set(web_api_methods_in_code())
    unknown = methods - SCOPES_BY_METHOD.keys()
    assert not unknown, f"add the scopes of {sorted(unknown)} to SCOPES_BY_METHOD (and to the manifests)"
    # `commands` because handlers register the slash command.
    return {"commands"}.union(*(SCOPES_BY_METHOD[m] for m in methods))


@pytest.mark.parametrize("kind", MANIFESTS)
def test_manifest_declares_the_registered_command_with_hint_and_description(kind):
    commands = load(kind)["features"]["slash_commands"]
    assert [c["command"] for c in commands] == [COMMAND]
    command = commands[0]
    assert command["description"].strip()
    assert command["usage_hint"].strip()
    # Slack should pass the text as typed: escaping would turn a dataset group ARN's characters into markup.
    assert command["should_escape"] is False


@pytest.mark.parametrize("kind", MANIFESTS)
def test_manifest_asks_for_exactly_the_bot_scopes_the_code_needs(kind):
    scopes = load(kind)["oauth_config"]["scopes"]
    assert sorted(scopes["bot"]) == sorted(scopes_needed())
    assert len(scopes["bot"]) == len(set(scopes["bot"]))
    assert "user" not in scopes, "the bot acts as itself, never as a user"


def test_the_code_scan_finds_web_api_calls():
    # Guards the scan itself: a scan that silently found nothing would make the scope test meaningless.
    assert web_api_methods_in("client.chat_postMessage(channel=c)") == {"chat.postMessage"}
    assert web_api_methods_in("self._client.conversations_info(\n    channel=c)") == {"conversations.info"}
    assert web_api_methods_in('client.api_call("chat.update", json=x)') == {"chat.update"}
    assert web_api_methods_in("self._client.files_upload_v2(channel=c)") == {
        "files.getUploadURLExternal", "files.completeUploadExternal"}
    assert web_api_methods_in("chat_postMessage = 1; post(x)") == set()
    # And it reads the bot's own files: the digest posts to channels, so the scan finds at least that.
    assert "chat.postMessage" in web_api_methods_in_code()


def test_http_manifest_sends_commands_and_clicks_to_the_path_the_app_serves(make_settings):
    manifest = load("http")
    command_url = manifest["features"]["slash_commands"][0]["url"]
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is False
    events_url = manifest["settings"]["event_subscriptions"]["request_url"]
    for url in (command_url, interactivity["request_url"], events_url):
        assert url.startswith("https://") and url.endswith(EVENTS_PATH)

    # The path is Bolt's (an unsigned POST is refused with 401); any other path is not served.
    from app_factory import build_app, build_services
    from web import create_wsgi_app

    settings = make_settings()
    services = build_services(settings)
    try:
        application = create_wsgi_app(build_app(settings, services), SIGNING_SECRET)
        assert wsgi_post(application, EVENTS_PATH).startswith("401")
        assert wsgi_post(application, "/slack/commands").startswith("404")
    finally:
        services.background.shutdown(wait=True)


def test_socket_manifest_has_socket_mode_and_no_urls():
    manifest = load("socket")
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert "url" not in manifest["features"]["slash_commands"][0]
    assert "request_url" not in manifest["settings"]["interactivity"]
    assert "request_url" not in manifest["settings"]["event_subscriptions"]


def test_both_manifests_agree_apart_from_transport():
    http, socket = load("http"), load("socket")
    for manifest in (http, socket):
        manifest["features"]["slash_commands"][0].pop("url", None)
        manifest["settings"]["interactivity"].pop("request_url", None)
        manifest["settings"]["event_subscriptions"].pop("request_url", None)
        manifest["settings"].pop("socket_mode_enabled")
    assert http == socket


def wsgi_post(application, path: str) -> str:
    import io

    body = b"command=%2Fdeletion-jobs&text=failed"
    statuses = []
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "", "CONTENT_TYPE":
        "application/x-www-form-urlencoded", "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
        "SERVER_NAME": "localhost", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
    }
    b"".join(application(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    return statuses[0]


_EVENT_LISTENER = re.compile(r"\bapp\.event\(\s*[\"']([a-z_]+)[\"']")


def events_listened_to() -> set[str]:
    """Event types the bot's listeners register (`app.event("app_home_opened")`)."""
    return {name for path in (ROOT / "handlers").rglob("*.py") for name in _EVENT_LISTENER.findall(path.read_text())}


@pytest.mark.parametrize("kind", MANIFESTS)
def test_manifest_enables_the_home_tab_and_subscribes_to_exactly_the_events_the_code_listens_to(kind):
    manifest = load(kind)
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    subscriptions = manifest["settings"]["event_subscriptions"]
    assert sorted(subscriptions["bot_events"]) == sorted(events_listened_to()) == ["app_home_opened"]
    assert "user_events" not in subscriptions, "the bot acts as itself, never as a user"


def test_the_event_scan_finds_listeners():
    assert _EVENT_LISTENER.findall('app.event("app_home_opened")(handle)') == ["app_home_opened"]


@pytest.mark.parametrize("kind", MANIFESTS)
def test_watch_messages_land_in_the_apps_messages_tab(kind):
    # chat.postMessage(channel=<user id>) goes to the app's Messages tab; without it people cannot see them.
    app_home = load(kind)["features"]["app_home"]
    assert app_home["messages_tab_enabled"] is True
    assert app_home["messages_tab_read_only_enabled"] is True


def test_the_export_needs_exactly_a_dm_and_file_uploads():
    # The export's file goes to the requester's DM: conversations.open (im:write), then files_upload_v2
    # (files:write). No channels:write, no chat:write.public: it never goes to a channel.
    methods = web_api_methods_in_code()
    assert "services/export/upload.py" in methods["files.getUploadURLExternal"]
    assert "services/export/upload.py" in methods["conversations.open"]
    assert {"im:write", "files:write"} <= scopes_needed()
