"""docs/operations.md followed as an operator would, without Docker, on PostgreSQL: migrate once,
import Đà Nẵng's units from the national list and the groups from a CSV, create an invite, run
the doctor, start two instances in webhook mode against a fake Telegram Bot API, and see Green
Sunday's next reminder, `/metrics` answering on both, and a new leader who registers through one
instance answered once. Every step is the real `totruong` command in its own process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from models.settings import PROJECT_ROOT
from tests.conftest import POSTGRES_URL
from tests.fakes.telegram_api import TOKEN
from tests.integration.test_inbound_crash import Fake
from tests.integration.test_outbox_crash import free_port

pytestmark = pytest.mark.postgres

SECRET = "walkthrough_secret-123"
GROUPS = ("code,name,level,parent_code,households\n"
          "HC-TT3,Tổ dân phố Thạch Thang 3,group,20242,142\n"
          "HV-TL,Thôn Tà Lang,group,20194,60\n")
TOTRUONG = str(Path(sys.executable).parent / "totruong")


@pytest.fixture
def empty_database() -> Iterator[str]:
    """An empty PostgreSQL database, not migrated: the operator's `createdb`."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need TOTRUONG_TEST_POSTGRES_URL")
    import psycopg

    admin = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"totruong_ops_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def totruong(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([TOTRUONG, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"totruong {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def wait_ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"instance on {port} never ready: {log.read_text(errors='replace')[-3000:]}")


def test_an_operator_follows_the_operations_guide_on_postgres(empty_database: str, tmp_path: Path) -> None:
    fake = Fake()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOTRUONG_")}
    env.update({
        "TOTRUONG_DATABASE__URL": empty_database, "TOTRUONG_DATABASE__AUTO_MIGRATE": "false",
        "TOTRUONG_APP__DATA_DIR": str(tmp_path / "data"), "TOTRUONG_WEB__SIMULATOR": "false",
        "TOTRUONG_TELEGRAM__TOKEN": TOKEN, "TOTRUONG_TELEGRAM__API_URL": fake.url,
        "TOTRUONG_TELEGRAM__MODE": "webhook", "TOTRUONG_TELEGRAM__WEBHOOK_SECRET": SECRET,
        "TOTRUONG_TELEGRAM__WEBHOOK_URL": "https://totruong.example.vn/telegram/webhook",
    })
    instances: list[tuple[subprocess.Popen[bytes], int, Path]] = []
    try:
        # Migrations once, then the units, the groups and an invite (docs/operations.md §2).
        totruong(env, "db", "upgrade")  # exits 0; the doctor below checks the version reached
        national = totruong(env, "units", "import", "--province", "48")
        assert "95 units" in national and "23 phường" in national and "1 đặc khu" in national
        groups = tmp_path / "to-dan-pho.csv"
        groups.write_text(GROUPS, encoding="utf-8")
        assert "2 added" in totruong(env, "units", "import", str(groups))
        invite = totruong(env, "invite", "create", "--unit", "HC-TT3", "--role", "leader")
        code = re.search(r"^([A-Z0-9]{6,})$", invite, re.M)
        assert code, invite
        # The doctor (§3): everything fine, Green Sunday's next reminder named.
        doctor = totruong(env, "doctor")
        assert "Sẵn sàng: không có lỗi" in doctor, doctor
        assert "đã ở phiên bản mới nhất" in doctor, doctor
        assert re.search(r"✓ Chiến dịch “Ngày Chủ nhật Xanh - Sạch - Đẹp”: áp dụng cho Thành phố Đà Nẵng; "
                         r"lần nhắc tới: \d\d/\d\d/\d{4} \d\d:\d\d\.", doctor), doctor
        # Two instances on the one database (§5).
        for n in (1, 2):
            port, log = free_port(), tmp_path / f"app{n}.log"
            with log.open("ab") as out:
                process = subprocess.Popen([TOTRUONG, "run", "--port", str(port)], env=env, cwd=PROJECT_ROOT,
                                           stdout=out, stderr=subprocess.STDOUT)
            instances.append((process, port, log))
        for process, port, log in instances:
            wait_ready(port, process, log)
        # A new leader registers through the first instance's webhook and is answered once.
        user = {"id": 777001, "is_bot": False, "first_name": "Bác Hùng", "language_code": "vi"}
        text = f"/start {code.group(1)}"
        update = {"update_id": 5001, "message": {
            "message_id": 1, "from": user, "chat": {"id": 777001, "type": "private", "first_name": "Bác Hùng"},
            "date": int(time.time()), "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len("/start")}]}}
        hook = f"http://127.0.0.1:{instances[0][1]}/telegram/webhook"
        posted = httpx.post(hook, content=json.dumps(update), timeout=30,
                            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"})
        assert posted.status_code == 200
        assert fake.get("wait", method="sendMessage", count=1, timeout=30)["ok"]
        answers = [a for a in fake.get("answers") if str(a["chat_id"]) == "777001"]
        assert len(answers) == 1 and "Tổ dân phố Thạch Thang 3" in answers[0]["text"], answers
        # /metrics answers on both instances, with the update counted by the one that took it.
        for index, (_process, port, _log) in enumerate(instances):
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
            assert metrics.status_code == 200 and "totruong_outbox_messages" in metrics.text
            handled = re.findall(r'^totruong_updates_total\{channel="telegram",[^}]*outcome="handled"[^}]*\} (\S+)$',
                                 metrics.text, re.M)
            assert sum(float(v) for v in handled) == (1 if index == 0 else 0), \
                [line for line in metrics.text.splitlines() if line.startswith("totruong_updates")]
    finally:
        for process, _port, _log in instances:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _port, log in instances:
            try:
                assert process.wait(timeout=30) == 0, log.read_text(errors="replace")[-3000:]
            except subprocess.TimeoutExpired:
                process.kill()
        fake.process.kill()
        fake.process.wait()
