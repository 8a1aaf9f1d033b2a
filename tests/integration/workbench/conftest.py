"""The workbench stack on SQLite and on a real PostgreSQL server: one coder + scrubber
pipeline for the package, and per database a projector + web app (checked to exit cleanly)."""

from __future__ import annotations

import pytest

from tests.integration.workbench.stack import start_pipeline, start_stack, stop_all


@pytest.fixture(scope="package")
def wb_pipeline(kafka_broker, tmp_path_factory):
    pipe = start_pipeline(kafka_broker, tmp_path_factory.mktemp("wb-pipeline"))
    yield pipe
    codes = stop_all(pipe.procs)
    pipe.procs = []
    assert all(c in (0, None) for c in codes.values()), f"services did not exit cleanly: {codes}"


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def stack(request, wb_pipeline):
    name = request.param
    if name == "sqlite":
        (wb_pipeline.root / "db").mkdir(exist_ok=True)
        url = f"sqlite:///{wb_pipeline.root}/db/workbench.sqlite3"
    else:
        url = request.getfixturevalue("postgres_server").create_database(f"wb_{wb_pipeline.env['CLAIMFLOW_APP_ID_PREFIX']}")
    st = start_stack(wb_pipeline, url, name, {"alice": ("coder",), "bob": ("biller",), "ada": ("admin",)})
    yield st
    codes = st.stop()
    assert all(c in (0, None) for c in codes.values()), f"workbench processes did not exit cleanly: {codes}"
