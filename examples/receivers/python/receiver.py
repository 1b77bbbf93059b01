"""A boxtrace web-hook receiver in Python: verifies each delivery's Standard Webhooks
signature with the `standardwebhooks` package, parses the result event into typed
objects, and prints one JSON line per verified event on stdout.

    pip install -r requirements.txt
    WEBHOOK_SECRET=whsec_... python3 receiver.py

It listens on 127.0.0.1:9000 (RECEIVER_LISTEN=host:port; port 0 picks a free one) and
takes POSTs to /hooks. It answers 204 to a verified event, 401 to a bad signature (or a
timestamp more than five minutes off), and 400 to a body that is not a result event.
Copy it into your TMS and replace `handle` with your own processing.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import asdict, dataclass, field
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional, TextIO

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

# Larger bodies are refused before they are read: a result event is a few kilobytes.
MAX_BODY = 1024 * 1024


class Action(str, Enum):
    """The two result events boxtrace sends."""

    TRACE_RESULT = "TRACE_RESULT"
    TRACE_ERROR = "TRACE_ERROR"


class TraceKind(str, Enum):
    EXPORT = "EXPORT"
    EMPTY = "EMPTY"


class TrackingState(str, Enum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"


class NotAResultEvent(ValueError):
    """The body verified but is not a result event this receiver understands."""


@dataclass(frozen=True)
class TraceErrorInfo:
    """What failed, in a TRACE_ERROR."""

    reason: str
    message: str


@dataclass(frozen=True)
class Payload:
    """The fields most integrations read; `raw` keeps the whole payload for the rest
    (carrier, destination, events, the normalized result)."""

    container_number: str
    provider_id: str
    trace_kind: TraceKind
    tracking_state: TrackingState
    reason: str
    traced_at: str
    next_trace_at: Optional[str]
    status: Optional[str]
    booking_number: Optional[str]
    error: Optional[TraceErrorInfo]
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class ResultEvent:
    id: str
    org_id: str
    svc_id: str
    action: Action
    created_at: str
    payload: Payload


def _text(obj: dict, key: str, path: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise NotAResultEvent(f"{path}{key} must be a string")
    return value


def _optional_text(obj: dict, key: str, path: str) -> Optional[str]:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise NotAResultEvent(f"{path}{key} must be a string or absent")
    return value


def _enum(kind: type, obj: dict, key: str, path: str) -> Any:
    value = _text(obj, key, path)
    try:
        return kind(value)
    except ValueError:
        accepted = ", ".join(member.value for member in kind)
        raise NotAResultEvent(f"{path}{key} is '{value}'; accepted: {accepted}") from None


def parse_event(document: Any) -> ResultEvent:
    """A result event from the JSON body, or NotAResultEvent naming the field at fault.
    Unknown fields are ignored: boxtrace may add fields, never change these."""
    if not isinstance(document, dict):
        raise NotAResultEvent("the body must be a JSON object")
    if document.get("type") != "CONTAINER":
        raise NotAResultEvent("type must be CONTAINER")
    payload = document.get("payload")
    if not isinstance(payload, dict):
        raise NotAResultEvent("payload must be an object")
    action = _enum(Action, document, "action", "")
    error = None
    if action is Action.TRACE_ERROR:
        info = payload.get("error")
        if isinstance(info, dict):
            error = TraceErrorInfo(
                reason=_text(info, "reason", "payload.error."),
                message=_text(info, "message", "payload.error."),
            )
    return ResultEvent(
        id=_text(document, "id", ""),
        org_id=_text(document, "orgId", ""),
        svc_id=_text(document, "svcId", ""),
        action=action,
        created_at=_text(document, "createdAt", ""),
        payload=Payload(
            container_number=_text(payload, "containerNumber", "payload."),
            provider_id=_text(payload, "providerId", "payload."),
            trace_kind=_enum(TraceKind, payload, "traceKind", "payload."),
            tracking_state=_enum(TrackingState, payload, "trackingState", "payload."),
            reason=_text(payload, "reason", "payload."),
            traced_at=_text(payload, "tracedAt", "payload."),
            next_trace_at=_optional_text(payload, "nextTraceAt", "payload."),
            status=_optional_text(payload, "status", "payload."),
            booking_number=_optional_text(payload, "bookingNumber", "payload."),
            error=error,
            raw=payload,
        ),
    )


# Requests are handled on threads of their own: a line is written whole under this lock,
# or two threads' lines (and their newlines) would interleave.
_output = threading.Lock()


def say(line: str, stream: TextIO = sys.stdout) -> None:
    """Writes `line` and its newline at once, flushed, whatever other threads write."""
    with _output:
        stream.write(line + "\n")
        stream.flush()


def handle(webhook_id: str, event: ResultEvent) -> None:
    """Your processing goes here; it runs on the request's own thread, so several may run
    at once. This one prints the event as one JSON line. Deliveries are at least once: use
    `webhook_id` (the same on every retry) to drop duplicates."""
    line = {
        "receiver": "python",
        "webhookId": webhook_id,
        "id": event.id,
        "action": event.action.value,
        "containerNumber": event.payload.container_number,
        "traceKind": event.payload.trace_kind.value,
        "trackingState": event.payload.tracking_state.value,
        "reason": event.payload.reason,
        "status": event.payload.status,
        "error": asdict(event.payload.error) if event.payload.error else None,
    }
    say(json.dumps(line))


class Handler(BaseHTTPRequestHandler):
    webhook: Webhook

    def do_POST(self) -> None:  # noqa: N802 (the http.server name)
        if self.path != "/hooks":
            self._answer(404, "not found")
            return
        try:
            length = int(self.headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._answer(413, "body too large or without a length")
            return
        # The signature covers the body's exact bytes: verify them before parsing.
        body = self.rfile.read(length)
        try:
            self.webhook.verify(body, dict(self.headers.items()), json_parse=False)
        except WebhookVerificationError as e:
            self._answer(401, f"bad signature: {e}")
            return
        try:
            event = parse_event(json.loads(body))
        except ValueError as e:  # NotAResultEvent, or a JSONDecodeError
            self._answer(400, f"not a result event: {e}")
            return
        handle(self.headers.get("webhook-id", ""), event)
        self.send_response(204)
        self.end_headers()

    def _answer(self, status: int, why: str) -> None:
        say(f"refused ({status}): {why}", sys.stderr)
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.end_headers()
        self.wfile.write(why.encode())

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # One line per request on stderr, as http.server does, without the body.
        say(f"{self.address_string()} {format % args}", sys.stderr)


def main() -> None:
    secret = os.environ.get("WEBHOOK_SECRET")
    if not secret:
        sys.exit("set WEBHOOK_SECRET to the web-hook's secret (whsec_...), shown when it was registered")
    host, _, port = os.environ.get("RECEIVER_LISTEN", "127.0.0.1:9000").rpartition(":")
    Handler.webhook = Webhook(secret)
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    bound_host, bound_port = server.server_address[:2]
    say(f"receiving web-hooks on http://{bound_host}:{bound_port}/hooks")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
