"""A fake Slack Web API: a real HTTP server on an ephemeral port, in a thread, recording every call.

Point `SLACK_API_URL` at `api.url`. It keeps posted messages per channel (so history, replies and
updates behave), serves response_url posts at `/respond/<id>`, and can answer 429 with
Retry-After for a chosen number of calls, or drop connections after doing the work.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    status: int = 200


@dataclass
class FakeSlackState:
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # channel -> messages, oldest first
    responses: list[dict[str, Any]] = field(default_factory=list)  # what arrived at response_urls
    rate_limited: int = 0  # this many next API calls answer 429
    retry_after: int = 0
    drop_after: dict[str, int] = field(default_factory=dict)  # method -> connections to drop after doing the work
    expired_responses: bool = False
    errors: dict[str, str] = field(default_factory=dict)  # method -> Slack error code to answer with
    limited_calls: int = 0
    ts_counter: int = 0


class FakeSlackAPI:
    def __init__(self) -> None:
        self.state = FakeSlackState()
        self.lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-slack", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def response_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/respond/{name}"

    def start(self) -> FakeSlackAPI:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- test helpers ---------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        with self.lock:
            return [c for c in self.state.calls if method is None or c.method == method]

    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [m for ch, ms in self.state.messages.items() if channel in (None, ch) for m in ms]

    # -- the API ---------------------------------------------------------------------------------

    def answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            state = self.state
            state.calls.append(Call(method, params))
            if state.rate_limited > 0:
                state.rate_limited -= 1
                state.limited_calls += 1
                state.calls[-1].status = 429
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(state.retry_after)}
            if method in state.errors:
                return 200, {"ok": False, "error": state.errors[method]}, {}
            return 200, self._ok(method, params), {}

    def _ok(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        state = self.state
        if method == "auth.test":
            return {"ok": True, "url": "https://fake.slack.test/", "team": "Fake", "user": "ballast",
                    "team_id": "T1", "user_id": "UBOT", "bot_id": "BBOT"}
        if method == "chat.postMessage":
            state.ts_counter += 1
            ts = f"1700000000.{state.ts_counter:06d}"
            message = {"ts": ts, "text": p.get("text"), "blocks": _json(p.get("blocks")),
                       "thread_ts": p.get("thread_ts"), "metadata": _json(p.get("metadata")), "bot_id": "BBOT"}
            state.messages.setdefault(p["channel"], []).append(message)
            return {"ok": True, "channel": p["channel"], "ts": ts, "message": message}
        if method == "chat.update":
            for message in state.messages.get(p["channel"], []):
                if message["ts"] == p["ts"]:
                    message.update(text=p.get("text"), blocks=_json(p.get("blocks")), edited=True)
                    return {"ok": True, "channel": p["channel"], "ts": p["ts"]}
            return {"ok": False, "error": "message_not_found"}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": "1700000000.999999"}
        if method in ("conversations.history", "conversations.replies"):
            messages = state.messages.get(p["channel"], [])
            if method == "conversations.replies":
                messages = [m for m in messages if p["ts"] in (m["ts"], m.get("thread_ts"))]
            return {"ok": True, "messages": list(reversed(messages))[: int(p.get("limit", 100))]}
        return {"ok": True}

    def respond(self, name: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.state.calls.append(Call("response_url", {"name": name, **payload}))
            if self.state.expired_responses:
                return 404, {"ok": False, "error": "expired_url"}
            self.state.responses.append({"name": name, **payload})
            return 200, {"ok": True}

    def should_drop(self, method: str) -> bool:
        with self.lock:
            left = self.state.drop_after.get(method, 0)
            if left > 0:
                self.state.drop_after[method] = left - 1
                return True
            return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a burst of clients must not be reset by a full listen backlog


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _handler(api: FakeSlackAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the base class's name)
            pass

        def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
            try:
                self._serve()
            except Exception as exc:  # a fake's bug must show up as a 500 naming it, not as a dropped connection
                api.state.calls.append(Call("fake_error", {"error": repr(exc)}))
                self._send(500, {"ok": False, "error": f"fake_error: {exc!r}"}, {})

        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
            parsed = urlparse(self.path)
            params: dict[str, Any] = dict(parse_qsl(parsed.query))
            if raw:
                if "json" in (self.headers.get("Content-Type") or ""):
                    params.update(json.loads(raw))
                else:
                    params.update(dict(parse_qsl(raw)))
            if parsed.path.startswith("/respond/"):
                status, body = api.respond(parsed.path.rsplit("/", 1)[-1], params)
                self._send(status, body, {})
                return
            method = parsed.path.removeprefix("/api/")
            status, body, headers = api.answer(method, params)
            if status == 200 and api.should_drop(method):
                self.close_connection = True
                self.connection.close()  # the work is done, the answer never arrives
                return
            self._send(status, body, headers)

        do_GET = do_POST  # noqa: N815

        def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    return Handler
