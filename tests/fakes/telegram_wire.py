"""The Bot API's wire format for the fake server: reading HTTP requests and bodies, writing answers."""

from __future__ import annotations

import asyncio
import contextlib
import email.parser
import email.policy
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

JSON_FIELDS = {"reply_markup", "allowed_updates", "commands", "scope", "entities", "caption_entities",
               "link_preview_options", "reply_parameters", "media"}
INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "user_id", "cache_time", "max_connections",
              "from_chat_id", "reply_to_message_id"}
BOOL_FIELDS = {"drop_pending_updates", "show_alert", "disable_notification", "protect_content", "is_persistent"}
DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway"}


class ApiError(Exception):
    """A Bot API error answer: an HTTP status and Telegram's description."""

    def __init__(self, status: int, description: str = "", retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description or DESCRIPTIONS.get(status, "Error").format(retry_after=retry_after)
        self.retry_after = retry_after


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    line = await reader.readline()
    if not line.strip():
        return None
    verb, target, _version = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _sep, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                await reader.readline()
                break
            chunks.append(await reader.readexactly(size))
            await reader.readline()
        body = b"".join(chunks)
    else:
        body = b""
    return verb, target, headers, body


def decode_body(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, tuple[str, bytes, str]]]:
    """Reads a JSON, form or multipart body into parameters (typed as Telegram reads them) and files."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return {}, {}
    if kind == "application/json":
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("JSON body must be an object")
        return data, {}
    if kind == "application/x-www-form-urlencoded":
        return {k: coerce(k, v) for k, v in parse_qsl(body.decode(), keep_blank_values=True)}, {}
    if kind == "multipart/form-data":
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
        params: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes, str]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None:
                files[str(name)] = (filename, payload, part.get_content_type())
            else:
                params[str(name)] = coerce(str(name), payload.decode())
        return params, files
    raise ValueError(f"unsupported content type {content_type!r}")


def coerce(name: str, value: str) -> Any:
    if name in JSON_FIELDS:
        return json.loads(value)
    if name in INT_FIELDS:
        with contextlib.suppress(ValueError):
            return int(value)
    if name in BOOL_FIELDS:
        return value.lower() == "true"
    return value


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def json_response(data: Any) -> Response:
    return Response(200, json.dumps(data).encode())


def error_response(status: int, description: str = "", retry_after: int | None = None) -> Response:
    error = ApiError(status, description, retry_after)
    payload: dict[str, Any] = {"ok": False, "error_code": status, "description": error.description}
    if retry_after is not None:
        payload["parameters"] = {"retry_after": retry_after}
    return Response(status, json.dumps(payload).encode())
