"""Demo data: a slice of Đà Nẵng (the city, three wards, ten groups) and a persona for every role.

Loading is idempotent: what exists already (by code or id) is left as it is.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from handlers.flows import consent
from models.repos import Repo
from models.settings import Settings
from models.tables import Identity, Invite, Person, RoleAssignment, Unit, utcnow
from models.units import UnitRow, import_units

# The city and wards under their official post-2025 codes (the national list, models/provinces.py):
# `totruong units import --province 48` on a demo database adds the other wards beside them.
UNITS = [
    UnitRow("48", "Thành phố Đà Nẵng", "city", "", None, kind="thành phố trung ương"),
    UnitRow("20242", "Phường Hải Châu", "ward", "48", None, kind="phường"),
    UnitRow("20209", "Phường Thanh Khê", "ward", "48", None, kind="phường"),
    UnitRow("20263", "Phường Sơn Trà", "ward", "48", None, kind="phường"),
    UnitRow("HC-TT3", "Tổ dân phố Thạch Thang 3", "group", "20242", 142),
    UnitRow("HC-HC7", "Tổ dân phố Hải Châu 7", "group", "20242", 118),
    UnitRow("HC-PN12", "Tổ dân phố Phước Ninh 12", "group", "20242", 96),
    UnitRow("HC-BH4", "Tổ dân phố Bình Hiên 4", "group", "20242", 131),
    UnitRow("TK-XH9", "Tổ dân phố Xuân Hà 9", "group", "20209", 87),
    UnitRow("TK-CG15", "Tổ dân phố Chính Gián 15", "group", "20209", 154),
    UnitRow("TK-TG2", "Tổ dân phố Thạc Gián 2", "group", "20209", 103),
    UnitRow("ST-MT6", "Tổ dân phố Mân Thái 6", "group", "20263", 176),
    UnitRow("ST-AHB21", "Tổ dân phố An Hải Bắc 21", "group", "20263", 122),
    UnitRow("ST-TQ11", "Tổ dân phố Thọ Quang 11", "group", "20263", 138),
]

# Simulator personas. The first is not registered yet: the demo shows registering with a code.
PERSONAS = [
    {"id": "demo-totruong", "name": "Ông Nguyễn Văn Hùng", "role": "",
     "about": "Tổ trưởng Tổ dân phố Thạch Thang 3 — chưa đăng ký, dùng mã mời HUNG05"},
    {"id": "demo-totruong-2", "name": "Bà Trần Thị Mai", "role": "leader", "unit": "TK-XH9",
     "about": "Tổ trưởng Tổ dân phố Xuân Hà 9, Phường Thanh Khê"},
    {"id": "demo-topho", "name": "Ông Hồ Văn Sáu", "role": "deputy", "unit": "HC-TT3",
     "about": "Tổ phó Tổ dân phố Thạch Thang 3"},
    {"id": "demo-nguoidan", "name": "Chị Lê Thị Lan", "role": "resident", "unit": "HC-TT3",
     "about": "Người dân Tổ dân phố Thạch Thang 3"},
    {"id": "demo-canbo", "name": "Anh Phạm Minh Tuấn", "role": "official", "unit": "20242", "duties": "on_duty",
     "about": "Cán bộ trực Phường Hải Châu (nhận tin khẩn)"},
    {"id": "demo-canbo-xh", "name": "Chị Đặng Thu Hà", "role": "official", "unit": "20242", "duties": "social",
     "about": "Cán bộ văn hóa - xã hội Phường Hải Châu (xem dữ liệu giảm nghèo)"},
    {"id": "demo-thanhpho", "name": "Bà Võ Thị Hoa", "role": "official", "unit": "48", "duties": "on_duty,privacy",
     "about": "Cán bộ trực Thành phố Đà Nẵng (nhận tin khẩn chuyển cấp, xem nhật ký truy cập dữ liệu)"},
]

# Unlimited codes so that every person trying the demo can use them.
INVITES = [
    {"code": "HUNG05", "unit": "HC-TT3", "role": "leader", "about": "Tổ trưởng Tổ dân phố Thạch Thang 3"},
    {"code": "TT3DAN", "unit": "HC-TT3", "role": "resident", "about": "Người dân Tổ dân phố Thạch Thang 3"},
]


async def is_empty(session: AsyncSession) -> bool:
    """True when no unit exists yet (a fresh database)."""
    return not await session.scalar(select(func.count()).select_from(Unit))


async def load(session: AsyncSession, settings: Settings) -> None:
    """Adds the demo units, personas and invites that are not there yet."""
    await import_units(session, UNITS, levels=settings.units.levels)
    repo = Repo(session)
    for persona in PERSONAS:
        exists = await session.scalar(
            select(col(Identity.id)).where(col(Identity.channel) == "sim", col(Identity.external_id) == persona["id"])
        )
        if exists:
            continue
        # Fictional people: registered personas count as having agreed to the privacy notice.
        agreed = bool(persona["role"])
        person = Person(name=persona["name"], language=settings.app.language,
                        consented_at=utcnow() if agreed else None, consent_version=consent.VERSION if agreed else "")
        session.add(person)
        await session.flush()
        assert person.id is not None
        session.add(Identity(person_id=person.id, channel="sim", external_id=persona["id"],
                             chat_id=persona["id"], display_name=persona["name"]))
        if persona["role"]:
            unit = await repo.unit_by_code(persona["unit"])
            assert unit is not None and unit.id is not None
            session.add(RoleAssignment(person_id=person.id, unit_id=unit.id, role=persona["role"],
                                       duties=persona.get("duties", "")))
    for invite in INVITES:
        if await session.scalar(select(col(Invite.id)).where(col(Invite.code) == invite["code"])):
            continue
        unit = await repo.unit_by_code(invite["unit"])
        assert unit is not None and unit.id is not None
        await repo.create_invite(unit_id=unit.id, role=invite["role"], max_uses=0, expires_at=None,
                                 code=invite["code"])
    await session.flush()
