"""The floor for a list route: bare Flask and SQLAlchemy answering a page of ten rows, nothing else.

No authentication, no rate limits, no stats: one ORM query for the page, one count, `jsonify`. bench_web.py serves it
on the same gunicorn gevent worker as `finetune serve` and compares GET /api/projects with it.

    gunicorn -k gevent -w 1 --chdir benchmarks flask_floor:app      # FLOOR_DB: the SQLite file (a temp one)
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime

from flask import Flask, jsonify
from sqlalchemy import DateTime, String, create_engine, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)


engine = create_engine(f"sqlite:///{os.environ.get('FLOOR_DB') or tempfile.mktemp(suffix='.db')}")
Base.metadata.create_all(engine)
with Session(engine) as session, session.begin():
    if not session.scalar(select(func.count()).select_from(Row)):
        session.add_all(Row(id=f"{n:036d}", name=f"project {n}", status="active", created_at=datetime.now(UTC))
                        for n in range(10))

app = Flask(__name__)


@app.get("/api/projects")
def projects() -> object:
    with Session(engine) as session:
        rows = session.scalars(select(Row).order_by(Row.created_at.desc()).limit(50)).all()
        total = session.scalar(select(func.count()).select_from(Row))
    items = [{"id": row.id, "name": row.name, "status": row.status, "created_at": row.created_at.isoformat()}
             for row in rows]
    return jsonify(items=items, total=total, limit=50, offset=0)
