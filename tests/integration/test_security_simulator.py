"""The simulator cannot leak: no public bind without asking for it and a secret; with them, every
simulator request carries the secret; a file is served only to the simulator user it was sent to
(or who sent it), an Excel export to nobody else."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from bot.web import create_web
from models.settings import PROJECT_ROOT, SettingsError
from models.tables import Attachment
from tests import images
from tests.integration.test_outages import LEADER, button_of, send
from tests.integration.test_reports import inbox
from tests.integration.test_summary_digests import add, digest

SECRET = "s3cret-for-the-training-room"


def totruong(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("TOTRUONG_WEB__")}
    environ.update(TOTRUONG_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path}/t.db",
                   TOTRUONG_APP__DATA_DIR=str(tmp_path / "data"), TOTRUONG_WEB__PORT="0", **env)
    return subprocess.run([sys.executable, "-c", "from bot.cli import main; main()", *args], cwd=PROJECT_ROOT,
                          env=environ, capture_output=True, text=True, timeout=60)


def test_the_app_refuses_to_serve_the_simulator_on_a_public_address(tmp_path) -> None:
    refused = totruong(tmp_path, "run", "--host", "0.0.0.0")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "web.host = '0.0.0.0'" in refused.stderr and "web.simulator = false" in refused.stderr
    assert not (tmp_path / "t.db").exists()  # refused before anything was created

    no_secret = totruong(tmp_path, "run", "--host", "0.0.0.0", TOTRUONG_WEB__SIMULATOR_PUBLIC="true")
    assert no_secret.returncode == 2 and "web.simulator_secret" in no_secret.stderr
    assert "TOTRUONG_WEB__SIMULATOR_SECRET" in no_secret.stderr


def test_a_public_bind_without_the_simulator_is_accepted(app) -> None:
    app.settings.web.host = "0.0.0.0"
    app.settings.web.simulator = False
    create_web(app)  # the webhooks server: no simulator routes at all
    app.settings.web.simulator = True
    with pytest.raises(SettingsError, match=r"web\.host"):
        create_web(app)


def public(app) -> httpx.AsyncClient:
    app.settings.web.host = "0.0.0.0"
    app.settings.web.simulator_public = True
    app.settings.web.simulator_secret = SECRET
    transport = httpx.ASGITransport(app=create_web(app), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://sim.example.vn", timeout=30)


async def test_every_simulator_request_needs_the_secret(app) -> None:
    async with public(app) as client:
        for method, url, body in [("GET", "/api/personas", None), ("GET", "/api/messages?user=demo-canbo", None),
                                  ("POST", "/api/send", {"user": "demo-canbo", "text": "/menu"}),
                                  ("GET", "/api/files/1?user=demo-canbo", None), ("GET", "/api/docs", None)]:
            answer = await client.request(method, url, json=body)
            assert answer.status_code == 401 and answer.json()["error"] == "simulator_secret_required", url
        page = await client.get("/")
        assert page.status_code == 401 and "Mã truy cập" in page.text and "Tổ trưởng" in page.text
        assert (await client.get("/healthz")).status_code == 200  # a load balancer still sees it
        wrong = await client.get("/", params={"key": "guess"})
        assert wrong.status_code == 401 and "không đúng" in wrong.text
        assert (await client.get("/api/personas", headers={"X-Simulator-Secret": "guess"})).status_code == 401
        assert await inbox(app, "demo-canbo") == []  # nothing was sent as the official

        scripted = await client.get("/api/personas", headers={"X-Simulator-Secret": SECRET})
        assert scripted.status_code == 200 and scripted.json()["personas"]
        opened = await client.get("/", params={"key": SECRET})
        assert opened.status_code == 303 and opened.headers["location"] == "/"
        assert SECRET not in opened.headers["set-cookie"] and "httponly" in opened.headers["set-cookie"].lower()
        assert (await client.get("/")).status_code == 200  # the browser's cookie from now on
        assert (await client.get("/api/messages", params={"user": "demo-canbo"})).status_code == 200


async def test_a_photo_is_served_only_to_who_received_it_or_sent_it(app) -> None:
    async with public(app) as client:
        client.headers["X-Simulator-Secret"] = SECRET
        answer = await send(client, LEADER, text="/start HUNG05")
        answer = await send(client, LEADER, button=button_of(answer.json()["messages"], "Báo tin khẩn"))
        answer = await send(client, LEADER, button=button_of(answer.json()["messages"], "Cháy, nổ"))
        await send(client, LEADER, location={"latitude": 16.07, "longitude": 108.22})
        await client.post("/api/photo", data={"user": LEADER}, files={"file": ("a.jpg", images.jpeg(), "image/jpeg")})
        alert = (await inbox(app, "demo-canbo"))[-1]
        async with app.sessions() as session:
            photo_id = (await session.scalars(select(Attachment.id))).one()
        assert alert["photo_url"] == f"/api/files/{photo_id}?user=demo-canbo"
        assert (await client.get(alert["photo_url"])).status_code == 200  # the official on duty
        assert (await client.get(f"/api/files/{photo_id}", params={"user": LEADER})).status_code == 200  # sender
        for stranger in ("demo-nguoidan", "demo-canbo-xh", "demo-totruong-2", "khach-1234"):
            refused = await client.get(f"/api/files/{photo_id}", params={"user": stranger})
            assert refused.status_code == 404, stranger
        assert (await client.get(f"/api/files/{photo_id}")).status_code == 422  # no user: no file
        assert (await client.get("/api/files/999", params={"user": "demo-canbo"})).status_code == 404


async def test_an_excel_export_is_served_to_its_reader_only(app) -> None:
    monday = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)
    await add(app, "HC-TT3", "giam_ngheo_ho_tro", {"ma_ho": "HN03", "dien": "can_ngheo", "nguon": "nha_nuoc",
                                                   "gia_tri": 400_000}, datetime(2026, 11, 18, 2, tzinfo=UTC))
    person, replies = await digest(app, "demo-canbo-xh", "weekly", monday)
    await app.deliver_to_person(person, replies)
    received = await inbox(app, "demo-canbo-xh")
    document_id = replies[-1].document_id  # after the headline and the charts
    async with public(app) as client:
        client.headers["X-Simulator-Secret"] = SECRET
        assert (await client.get(received[-1]["document_url"])).status_code == 200
        for other in ("demo-canbo", "demo-thanhpho", "demo-topho", "demo-nguoidan"):
            refused = await client.get(f"/api/files/{document_id}", params={"user": other})
            assert refused.status_code == 404, other
