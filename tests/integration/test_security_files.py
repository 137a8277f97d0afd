"""Files are what they claim: every photo decoded and re-encoded (no EXIF), anything else refused in
Vietnamese, stored files served as their stored type with nosniff, and data readable by the app only."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy import func, select

from bot.bootstrap import build, prepare_database
from models.repos import Repo
from models.settings import PROJECT_ROOT, load_settings
from models.tables import Attachment, Feedback, Report
from tests import images
from tests.helpers import Chat
from tests.integration.test_outages import LEADER, client_for, leader_at_the_last_question

NOT_AN_IMAGE = "Tệp vừa gửi không phải là ảnh hoặc ảnh bị hỏng, nên chưa được lưu."
TOO_BIG = "Ảnh có kích thước quá lớn"
GAUNTLET = [
    ("empty.jpg", b"", "image/jpeg", NOT_AN_IMAGE),
    ("danh-sach.zip", images.zip_file(), "application/zip", NOT_AN_IMAGE),
    ("trang.html", images.HTML, "text/html", NOT_AN_IMAGE),
    ("anh.svg", images.SVG, "image/svg+xml", NOT_AN_IMAGE),
    ("fake.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "image/png", NOT_AN_IMAGE),  # a header and nothing
    ("bomb.png", images.png_bomb(10_000, 6_000), "image/png", "(10000×6000 điểm ảnh)"),  # 60 MP, over our 50
    ("huge.png", images.png_bomb(30_000, 30_000), "image/png", TOO_BIG),  # over Pillow's own limit too
]


async def count(app, table) -> int:
    async with app.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


def stored_files(app) -> list[Path]:
    return [p for p in app.files.root.rglob("*") if p.is_file()] if app.files.root.exists() else []


async def test_the_simulator_refuses_every_file_that_is_not_a_photo_and_strips_gps_from_one(app) -> None:
    async with client_for(app) as client:
        await leader_at_the_last_question(client)  # the urgent incident's "describe, or send a photo"
        for name, content, mime, expected in GAUNTLET:
            answer = await client.post("/api/photo", data={"user": LEADER}, files={"file": (name, content, mime)})
            assert answer.status_code == 200, name
            text = answer.json()["messages"][0]["text"]
            assert expected in text and "Hãy" in text, (name, text)  # says what to do
            assert "Mô tả ngắn, hoặc gửi một ảnh." in "\n".join(m["text"] for m in answer.json()["messages"])
        assert await count(app, Attachment) == 0 and stored_files(app) == []
        assert await count(app, Report) == 0  # the incident still waits for its last answer

        photo = images.jpeg(exif=images.gps_exif())
        assert images.exif_of(photo)[0x0110] == "Model X 12"  # the upload does carry camera and GPS
        answer = await client.post("/api/photo", data={"user": LEADER},
                                   files={"file": ("IMG_0001.jpg", photo, "image/jpeg")})
        assert "🚨 Đã chuyển tin khẩn" in answer.json()["messages"][0]["text"]
        async with app.sessions() as session:
            attachment = (await session.scalars(select(Attachment))).one()
        stored = app.files.path_of(attachment).read_bytes()
        assert images.exif_of(stored) == {} and b"PhoneMaker" not in stored and b"Model X" not in stored
        assert images.decoded(stored) == ("JPEG", (32, 24)) and attachment.mime == "image/jpeg"

        served = await client.get(f"/api/files/{attachment.id}", params={"user": LEADER})  # who sent it
        assert served.status_code == 200 and served.content == stored
        assert served.headers["content-type"] == "image/jpeg"
        assert served.headers["x-content-type-options"] == "nosniff"


async def test_a_residents_feedback_refuses_an_svg_and_keeps_a_photo_without_exif(app) -> None:
    resident = Chat(app, "demo-nguoidan")
    await resident.send("/menu")
    await resident.press("Gửi phản ánh")
    refused = await resident.photo(images.SVG, "image/svg+xml")
    assert NOT_AN_IMAGE in refused and "JPG, PNG" in refused
    assert await count(app, Attachment) == 0
    assert "Đã có: ảnh." in await resident.photo(images.jpeg(exif=images.gps_exif()))
    await resident.press("Gửi phản ánh")
    async with app.sessions() as session:
        feedback = (await session.scalars(select(Feedback))).one()
        attachment = await session.get(Attachment, feedback.photo_id)
    assert attachment is not None
    assert images.exif_of(app.files.path_of(attachment).read_bytes()) == {}


async def test_a_transparent_png_stays_a_png(app) -> None:
    resident = Chat(app, "demo-nguoidan")
    await resident.send("/menu")
    await resident.press("Gửi phản ánh")
    await resident.photo(images.png(), "image/png")
    async with app.sessions() as session:
        attachment = (await session.scalars(select(Attachment))).one()
    assert attachment.mime == "image/png"
    assert images.pixels(app.files.path_of(attachment).read_bytes()) == images.pixels(images.png())


async def test_a_file_stored_with_another_type_is_only_ever_a_download(app) -> None:
    # A row from before photos were re-encoded: an SVG stored as sent.
    path = app.files.root / "legacy.svg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(images.SVG)
    async with app.sessions() as session, session.begin():
        sender = await Repo(session).find_who("sim", "demo-nguoidan")
        row = Attachment(sha256="0" * 64, path="legacy.svg", mime="image/svg+xml", size=len(images.SVG),
                         uploaded_by=sender.person_id)
        session.add(row)
        await session.flush()
        attachment_id = row.id
    async with client_for(app) as client:
        served = await client.get(f"/api/files/{attachment_id}", params={"user": "demo-nguoidan"})
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/octet-stream"
    assert served.headers["content-disposition"] == "attachment"
    assert served.headers["x-content-type-options"] == "nosniff"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_data_folder_database_and_files_are_readable_by_the_app_user_only(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    settings = load_settings({
        "TOTRUONG_DATABASE__URL": f"sqlite+aiosqlite:///{data}/totruong.db",
        "TOTRUONG_APP__DATA_DIR": str(data),
        "TOTRUONG_WEB__PORT": "0",
    }, PROJECT_ROOT / "config.toml")
    app = build(settings)
    try:
        await prepare_database(app)
        resident = Chat(app, "demo-nguoidan")
        await resident.send("/menu")
        await resident.press("Gửi phản ánh")
        await resident.photo(images.jpeg())
        await resident.press("Gửi phản ánh")
    finally:
        await app.stop()
    assert mode(data) == 0o700 and mode(data / "files") == 0o700
    created = [p for p in data.rglob("*") if p.is_file()]
    assert data / "totruong.db" in created and any(p.suffix == ".jpg" for p in created)
    assert {p.name: mode(p) for p in created} == {p.name: 0o600 for p in created}
    assert all(mode(p) == 0o700 for p in data.rglob("*") if p.is_dir())


async def test_an_existing_data_folder_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    settings = load_settings({"TOTRUONG_DATABASE__URL": f"sqlite+aiosqlite:///{data}/totruong.db",
                              "TOTRUONG_APP__DATA_DIR": str(data)}, PROJECT_ROOT / "config.toml")
    app = build(settings)
    await app.stop()
    assert mode(data) == 0o700 and mode(data / "totruong.db") == 0o600
