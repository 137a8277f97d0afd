"""The Bot API methods the fake server answers, with the checks Telegram makes on them."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import TYPE_CHECKING, Any

from tests.fakes.telegram_wire import ApiError, utf16_len


class BotApiMethods:
    """`_m_<method>` answers one Bot API method (lower case) with its `result`, or raises ApiError."""

    token: str
    username: str
    bot_id: int
    pending: list[dict[str, Any]]
    confirmed: int
    offsets: list[int]
    messages: dict[tuple[int, int], dict[str, Any]]
    files: dict[str, tuple[bytes, str]]
    webhook: dict[str, Any] | None
    commands: dict[str, list[dict[str, Any]]]
    answered: set[str]
    _message_ids: itertools.count[int]

    if TYPE_CHECKING:  # provided by FakeTelegram
        def _changed(self) -> None: ...

        async def _next_change(self, within: float) -> None: ...

        def add_file(self, content: bytes, path: str) -> str: ...

    def _bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Tổ trưởng", "username": self.username,
                "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def _m_getme(self, p: dict[str, Any], f: Any) -> Any:
        return self._bot_user()

    async def _m_logout(self, p: dict[str, Any], f: Any) -> Any:
        return True

    async def _m_close(self, p: dict[str, Any], f: Any) -> Any:
        return True

    async def _m_deletewebhook(self, p: dict[str, Any], f: Any) -> Any:
        self.webhook = None
        if p.get("drop_pending_updates"):
            self.pending.clear()
        return True

    async def _m_setwebhook(self, p: dict[str, Any], f: Any) -> Any:
        url = str(p.get("url", ""))
        if not url:
            self.webhook = None
            return True
        if not url.startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = str(p.get("secret_token", ""))
        if secret and not (len(secret) <= 256 and all(c.isascii() and (c.isalnum() or c in "_-") for c in secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": p.get("allowed_updates")}
        return True

    async def _m_getwebhookinfo(self, p: dict[str, Any], f: Any) -> Any:
        return {"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self.pending)}

    async def _m_getupdates(self, p: dict[str, Any], f: Any) -> Any:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(p.get("offset") or 0)
        limit = min(max(int(p.get("limit") or 100), 1), 100)
        timeout = float(p.get("timeout") or 0)
        if offset > self.confirmed:
            self.confirmed = offset
            self.offsets.append(offset)
            self.pending = [u for u in self.pending if u["update_id"] >= offset]
            self._changed()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.pending and loop.time() < deadline:
            await self._next_change(deadline - loop.time())
        return self.pending[:limit]

    def _chat(self, p: dict[str, Any]) -> int:
        chat_id = p.get("chat_id")
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _bot_message(self, chat_id: int, **content: Any) -> dict[str, Any]:
        message = {"message_id": next(self._message_ids), "from": self._bot_user(),
                   "chat": {"id": chat_id, "type": "private"}, "date": int(time.time()), **content}
        self.messages[(chat_id, message["message_id"])] = message
        return message

    async def _m_sendmessage(self, p: dict[str, Any], f: Any) -> Any:
        chat_id = self._chat(p)
        text = str(p.get("text", ""))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        if not_utf8(text):
            raise ApiError(400, "Bad Request: strings must be encoded in UTF-8")
        return self._bot_message(chat_id, text=text, **markup_of(p))

    async def _m_editmessagetext(self, p: dict[str, Any], f: Any) -> Any:
        message = self._existing(p)
        text = str(p.get("text", ""))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > 4096:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        markup = markup_of(p)
        if message.get("text") == text and message.get("reply_markup") == markup.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        message["text"] = text
        message.pop("reply_markup", None)
        message.update(markup)
        message["edit_date"] = int(time.time())
        return message

    async def _m_editmessagereplymarkup(self, p: dict[str, Any], f: Any) -> Any:
        message = self._existing(p)
        markup = markup_of(p)
        if message.get("reply_markup") == markup.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified")
        message.pop("reply_markup", None)
        message.update(markup)
        message["edit_date"] = int(time.time())
        return message

    def _existing(self, p: dict[str, Any]) -> dict[str, Any]:
        key = (self._chat(p), int(p.get("message_id") or 0))
        message = self.messages.get(key)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    async def _m_answercallbackquery(self, p: dict[str, Any], f: Any) -> Any:
        query_id = str(p.get("callback_query_id", ""))
        if not query_id or query_id in self.answered:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        self.answered.add(query_id)
        return True

    def _upload(self, p: dict[str, Any], files: dict[str, tuple[str, bytes, str]], name: str) -> tuple[str, bytes]:
        value = p.get(name)
        if name in files:
            _filename, content, _mime = files[name]
        elif isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
            _filename, content, _mime = files[value[9:]]
        elif isinstance(value, str) and value in self.files:
            return value, self.files[value][0]
        else:
            raise ApiError(400, f"Bad Request: there is no {name} in the request")
        return self.add_file(content, f"{name}s/upload.bin"), content

    async def _m_sendphoto(self, p: dict[str, Any], f: dict[str, tuple[str, bytes, str]]) -> Any:
        chat_id = self._chat(p)
        file_id, content = self._upload(p, f, "photo")
        if len(content) > PHOTO_MAX_BYTES:
            raise ApiError(400, "Bad Request: file is too big")
        size = png_size(content)
        if size is not None and (sum(size) > 10_000 or max(size) > 20 * max(1, min(size))):
            raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        caption = str(p.get("caption", ""))
        if utf16_len(caption) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        sizes = [{"file_id": file_id, "file_unique_id": "u" + file_id, "width": 800, "height": 600,
                  "file_size": len(content)}]
        extra: dict[str, Any] = {"caption": caption} if caption else {}
        return self._bot_message(chat_id, photo=sizes, **extra, **markup_of(p))

    async def _m_senddocument(self, p: dict[str, Any], f: dict[str, tuple[str, bytes, str]]) -> Any:
        chat_id = self._chat(p)
        file_id, content = self._upload(p, f, "document")
        caption = str(p.get("caption", ""))
        if utf16_len(caption) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        filename = f["document"][0] if "document" in f else "file"
        document = {"file_id": file_id, "file_unique_id": "u" + file_id, "file_name": filename,
                    "file_size": len(content)}
        extra: dict[str, Any] = {"caption": caption} if caption else {}
        return self._bot_message(chat_id, document=document, **extra, **markup_of(p))

    async def _m_getfile(self, p: dict[str, Any], f: Any) -> Any:
        file_id = str(p.get("file_id", ""))
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        content, path = self.files[file_id]
        return {"file_id": file_id, "file_unique_id": "u" + file_id, "file_size": len(content), "file_path": path}

    async def _m_setmycommands(self, p: dict[str, Any], f: Any) -> Any:
        commands = p.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be a list")
        for command in commands:
            name, description = str(command.get("command", "")), str(command.get("description", ""))
            if not (1 <= len(name) <= 32 and all(c.islower() or c.isdigit() or c == "_" for c in name)
                    and name.isascii()):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[str(p.get("language_code", ""))] = commands
        return True

    async def _m_getmycommands(self, p: dict[str, Any], f: Any) -> Any:
        return self.commands.get(str(p.get("language_code", "")), [])

    async def _m_sendchataction(self, p: dict[str, Any], f: Any) -> Any:
        self._chat(p)
        return True


PHOTO_MAX_BYTES = 10_000_000


def png_size(content: bytes) -> tuple[int, int] | None:
    """Width and height of an image Telegram would read (PNG, JPEG, …), None for anything else."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(content)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def not_utf8(text: str) -> bool:
    """A text with broken surrogates (JSON can carry them escaped; UTF-8 cannot), as Telegram refuses."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def markup_of(p: dict[str, Any]) -> dict[str, Any]:
    """The reply_markup a sent message carries (only inline keyboards stay on the message)."""
    markup = p.get("reply_markup")
    if markup is None:
        return {}
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        for row in markup["inline_keyboard"]:
            for button in row:
                if not str(button.get("text", "")).strip():
                    raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return {"reply_markup": markup} if markup["inline_keyboard"] else {}
    if "keyboard" in markup:
        for row in markup["keyboard"]:
            for button in row:
                if not str(button.get("text", "")).strip():
                    raise ApiError(400, "Bad Request: keyboard button text is empty")
    return {}
