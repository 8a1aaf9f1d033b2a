"""The workbench stack on SQLite and on a real PostgreSQL server (one stack per module and
database, torn down with a check that every process exited cleanly)."""

from __future__ import annotations

import pytest

from tests.integration.workbench.stack import start_stack


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request, kafka_broker, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"wb-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{root}/workbench.sqlite3"
    else:
        pg = request.getfixturevalue("postgres_server")
        url = pg.create_database(f"wb_{root.name.replace('-', '_')}".lower())
    st = start_stack(kafka_broker, root, url)
    for name, roles in (("alice", ("coder",)), ("bob", ("biller",)), ("ada", ("admin",))):
        st.add_user(name, *roles)
    yield st
    codes = st.stop()
    assert all(c in (0, None) for c in codes.values()), f"processes did not exit cleanly: {codes}"
