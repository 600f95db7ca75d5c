"""Alembic environment: migrations run against the URL handed over by ``ostia db upgrade``."""

from __future__ import annotations

from alembic import context

import ostia.identity.models  # noqa: F401
import ostia.network.models  # noqa: F401
from ostia.db.engine import make_engine
from ostia.db.models import Base

config = context.config


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "ostia.db.migrate sets sqlalchemy.url"
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
