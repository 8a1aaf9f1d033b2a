"""Test harness for everything that runs on the real broker: a real Apache Kafka broker
(KRaft) started from the Maven jars on its own loopback ports, and the services as real
processes against fresh topics. Used by tests/integration, tests/reliability and bench."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

from claimflow.admin import create_topics
from claimflow.kafka_local import LocalBroker
from claimflow_app.services import SERVICES, spawn, wait_assigned, wait_healthy
from claimflow.settings import Settings

BROKER_PORT = int(os.environ.get("CLAIMFLOW_TEST_KAFKA_PORT", "19092"))
CONTROLLER_PORT = BROKER_PORT + 1


def session_broker():
    """Generator behind the session-wide ``kafka_broker`` fixture (tests/conftest.py)."""
    root = Path(tempfile.mkdtemp(prefix="claimflow-kafka-"))
    broker = LocalBroker(data_dir=root, port=BROKER_PORT, controller_port=CONTROLLER_PORT, heap="512m",
                         settings=Settings(kafka_bootstrap=f"127.0.0.1:{BROKER_PORT}"))
    broker.start()
    yield broker
    broker.stop()
    shutil.rmtree(root, ignore_errors=True)


class Pipeline:
    """The services running as processes against the test broker, with fresh topics."""

    def __init__(self, broker: LocalBroker, root: Path, services=SERVICES, port_base: int = int(os.environ.get("CLAIMFLOW_TEST_PORT_BASE", "16100"))):
        self.broker = broker
        self.root = root
        prefix = f"t{uuid.uuid4().hex[:6]}"
        ports = {s.replace("-", "_"): port_base + i for i, s in enumerate(SERVICES)}
        self.settings = Settings(kafka_bootstrap=broker.bootstrap, data_dir=root / "data", app_id_prefix=prefix,
                                 x12_outbox=root / "x12" / "outbox", x12_inbox=root / "x12" / "inbox", x12_state_dir=root / "x12" / "state",
                                 **{f"port_{s}": p for s, p in ports.items()})
        self.env = {
            "CLAIMFLOW_KAFKA_BOOTSTRAP": broker.bootstrap,
            "CLAIMFLOW_X12_OUTBOX": str(root / "x12" / "outbox"),
            "CLAIMFLOW_X12_INBOX": str(root / "x12" / "inbox"),
            "CLAIMFLOW_X12_STATE_DIR": str(root / "x12" / "state"),
            "CLAIMFLOW_DATA_DIR": str(root / "data"),
            "CLAIMFLOW_APP_ID_PREFIX": prefix,
            **{f"CLAIMFLOW_PORT_{s.upper()}": str(p) for s, p in ports.items()},
        }
        self.services = services
        self.procs = []

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    def start(self):
        # a loaded machine (2 cores shared) can need more than 90 s to load the coder's code sets
        timeout = float(os.environ.get("CLAIMFLOW_TEST_START_TIMEOUT_SECONDS", "90"))
        for service in self.services:
            self.procs.append(spawn(service, self.log_dir, self.env))
        try:
            for p in self.procs:
                wait_healthy(p.service, self.settings.port_for(p.service), timeout=timeout, proc=p)
                wait_assigned(p, timeout=timeout)
        except BaseException:
            self.stop()  # no service outlives a start that failed
            raise
        return self

    def stop(self):
        codes = {p.service: p.stop() for p in self.procs}
        self.procs = []
        return codes


def _reset_topics(settings: Settings) -> None:
    from kafka.errors import UnknownTopicOrPartitionError

    from claimflow.admin import admin_client
    from claimflow.topics import ALL_TOPICS
    import time

    admin = admin_client(settings)
    try:
        existing = [t.name for t in ALL_TOPICS if t.name in set(admin.list_topics())]
        if existing:
            try:
                admin.delete_topics(existing, timeout_ms=30000)
            except UnknownTopicOrPartitionError:
                pass
            for _ in range(100):
                if not set(existing) & set(admin.list_topics()):
                    break
                time.sleep(0.2)
    finally:
        admin.close()
    create_topics(settings)


def _pipeline(kafka_broker, root: Path, services):
    pipe = Pipeline(kafka_broker, root, services=services)
    _reset_topics(pipe.settings)
    try:
        return pipe.start()
    except BaseException:  # a service that never came up: stop the ones that did (they hold ports)
        pipe.stop()
        raise


