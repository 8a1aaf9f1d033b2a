"""Workbench unit fixtures: Django on a real SQLite file in a temp folder (migrated once),
the coder's reference data once per session. No broker: nothing here publishes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from claimflow.settings import Settings


@pytest.fixture(scope="session")
def django_db():
    from services.workbench import config
    from services.workbench.django_setup import migrate

    root = Path(tempfile.mkdtemp(prefix="claimflow-wb-unit-"))
    config.use(Settings(data_dir=root, workbench_database_url=f"sqlite:///{root}/wb.sqlite3"))
    migrate()
    yield root


@pytest.fixture
def db(django_db):
    from django.apps import apps

    yield
    for model in apps.get_app_config("workbench").get_models():
        model.objects.all().delete()


@pytest.fixture(scope="session")
def ref():
    from services.coder.reference import CodingReference

    return CodingReference.load(fetch_missing=True)
