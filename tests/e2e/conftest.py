"""Browser tests: the real app as a subprocess on a temporary SQLite database, driven through the
simulator page by headless chromium (Playwright).

Without /usr/bin/chromium (or the playwright package) the tests are skipped, unless
TOTRUONG_REQUIRE_BROWSER=1 is set: then they fail, so that CI cannot pass without running them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
START_TIMEOUT = 30.0


def _missing_browser() -> str:
    """Why the browser tests cannot run here, or "" when they can."""
    if not CHROMIUM.exists():
        return (f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) "
                "to run the browser tests")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -e '.[dev]' (never `playwright install`)"
    return ""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "app_args(*args): extra command-line arguments for `totruong run` in the `server` fixture, "
                   "e.g. app_args(\"--clock-start\", \"2026-11-28 18:50\", \"--clock-speed\", \"600\")")


@pytest.fixture(autouse=True)
def _require_browser() -> None:
    reason = _missing_browser()
    if not reason:
        return
    if os.environ.get("TOTRUONG_REQUIRE_BROWSER") == "1":
        pytest.fail(f"TOTRUONG_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _totruong_command() -> list[str]:
    for candidate in (Path(sys.executable).parent / "totruong", ROOT / ".venv" / "bin" / "totruong"):
        if candidate.exists():
            return [str(candidate)]
    return [sys.executable, "-c", "from bot.cli import main; main()"]


class AppProcess:
    """`totruong run` on its own port, database and data folder; can be killed and started again.

    `args` are added to `totruong run` (for example a demonstration clock); they may be changed
    between a stop and the next start, which keeps the database.
    """

    def __init__(self, folder: Path, args: Sequence[str] = ()) -> None:
        self.folder = folder
        self.args = list(args)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = folder / "t.db"
        self.log_path = folder / "app.log"
        self.process: asyncio.subprocess.Process | None = None
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOTRUONG_")}
        env.update({
            "TOTRUONG_DATABASE__URL": f"sqlite+aiosqlite:///{self.database}",
            "TOTRUONG_APP__DATA_DIR": str(folder / "data"),
            # As in tests/conftest.py: consent was collected outside the chat (the notice has its own tests).
            "TOTRUONG_PRIVACY__ASK_CONSENT": "false",
            "PYTHONUNBUFFERED": "1",
        })
        self.env = env

    async def start(self) -> None:
        """Starts the app (it migrates and loads the demo data itself) and waits for /healthz."""
        assert self.process is None or self.process.returncode is not None, "already running"
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *_totruong_command(), "run", "--host", "127.0.0.1", "--port", str(self.port), *self.args,
                cwd=ROOT, env=self.env, stdout=log, stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    pytest.fail(f"the app exited with {self.process.returncode} while starting:\n{self.log()}")
                try:
                    if (await client.get(self.url + "/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        pytest.fail(f"the app did not answer /healthz within {START_TIMEOUT:.0f} s:\n{self.log()}")

    async def kill(self) -> None:
        """Kills the app at once (SIGKILL), as a crash or a power cut would."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await asyncio.wait_for(self.process.wait(), 10)

    async def stop(self) -> None:
        """Stops the app gently (SIGTERM), then kills it if it does not stop within 3 s (a long poll
        still waiting keeps uvicorn from stopping until the poll ends)."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 3)
        except TimeoutError:
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), 5)

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return "(no log)"


@pytest.fixture
def app_args(request: pytest.FixtureRequest) -> list[str]:
    """Extra arguments for `totruong run`: those of the test's `app_args` marker, else none."""
    marker = request.node.get_closest_marker("app_args")
    return [str(arg) for arg in marker.args] if marker else []


@pytest.fixture
async def server(tmp_path: Path, app_args: list[str]) -> AsyncIterator[AppProcess]:
    """The real app on a fresh SQLite database with the demo data (and the `app_args`, if any)."""
    app = AppProcess(tmp_path, app_args)
    try:
        await app.start()
        yield app
    finally:
        await app.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                                    headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def page(browser: Any, server: AppProcess) -> AsyncIterator[Any]:
    """A phone-sized page on the simulator; fails the test on any JavaScript error or alert."""
    from playwright.async_api import expect

    expect.set_options(timeout=8_000)
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, locale="vi-VN",
                                        timezone_id="Asia/Ho_Chi_Minh", has_touch=False)
    tab = await context.new_page()
    tab.set_default_timeout(8_000)
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))

    async def on_dialog(dialog: Any) -> None:
        problems.append(f"unexpected {dialog.type} dialog: {dialog.message}")
        await dialog.dismiss()

    tab.on("dialog", on_dialog)
    await tab.goto(server.url + "/")
    try:
        yield tab
    finally:
        await context.close()
    assert not problems, problems
