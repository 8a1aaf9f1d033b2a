"""A real Apache Kafka broker (KRaft, broker + controller on one node) on loopback,
resolved from Maven Central with Maven and started with the local Java (17+).

Used by `make kafka-up` / `claimflow kafka up`, the test suite, the demo and CI.
Jars are cached outside git (~/.cache/claimflow/kafka-<version>/libs)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from claimflow.settings import REPO_ROOT, Settings, get_settings

POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
LOG4J2 = REPO_ROOT / "deploy" / "kafka" / "log4j2.properties"


class KafkaLocalError(RuntimeError):
    pass


def lib_dir(settings: Settings) -> Path:
    return settings.kafka_home / f"kafka-{settings.kafka_version}" / "libs"


def fetch_jars(settings: Settings | None = None, quiet: bool = True) -> Path:
    """Resolve the broker jars with Maven (copy-dependencies); a no-op when cached."""
    settings = settings or get_settings()
    libs = lib_dir(settings)
    if (libs / f"kafka_2.13-{settings.kafka_version}.jar").exists() and any(libs.glob("log4j-core-*.jar")):
        return libs
    mvn = shutil.which("mvn")
    if not mvn:
        raise KafkaLocalError("Maven (mvn) is not on PATH; install Maven 3.8+ to fetch the Kafka jars")
    cmd = [mvn, "-B", "-f", str(POM), "dependency:copy-dependencies",
           f"-Dkafka.version={settings.kafka_version}", f"-Dkafka.lib.dir={libs}"]
    if quiet:
        cmd.insert(1, "-q")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise KafkaLocalError(f"mvn failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    return libs


@dataclass
class LocalBroker:
    """One local KRaft node. ``extra_properties`` lets tests add listeners (SASL_SSL...)."""

    data_dir: Path
    port: int = 9092
    controller_port: int = 9093
    node_id: int = 1
    heap: str = "512m"
    settings: Settings = field(default_factory=get_settings)
    extra_properties: dict[str, str] = field(default_factory=dict)
    listeners: str | None = None
    advertised_listeners: str | None = None
    protocol_map: str | None = None
    inter_broker_listener: str = "PLAINTEXT"
    controller_quorum: str | None = None  # host:port,... for multi-node clusters
    jaas_file: Path | None = None
    probe_config: dict | None = None  # kafka-python settings for the readiness probe (secured listeners)
    _proc: subprocess.Popen | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "logs" / "server.log"

    def properties(self) -> dict[str, str]:
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.bootstrap.servers": self.controller_quorum or f"127.0.0.1:{self.controller_port}",
            "listeners": self.listeners or f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": self.advertised_listeners or f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": self.protocol_map or "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": self.inter_broker_listener,
            "log.dirs": str(self.data_dir / "log"),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.check.interval.ms": "60000",
            "message.max.bytes": "10485760",
        }
        props.update(self.extra_properties)
        return props

    def write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        return path

    def _java(self) -> str:
        java_home = os.environ.get("JAVA_HOME")
        java = Path(java_home) / "bin" / "java" if java_home else shutil.which("java")
        if not java:
            raise KafkaLocalError("java is not on PATH; Java 17+ is required for Kafka 4.x")
        return str(java)

    def _classpath(self) -> str:
        return str(fetch_jars(self.settings)) + "/*"

    def format(self, cluster_id: str | None = None, standalone: bool = True, initial_controllers: str | None = None,
               extra_args: list[str] | None = None) -> None:
        """Format the storage once. ``extra_args`` go to kafka-storage format as they are
        (e.g. ``["--add-scram", "SCRAM-SHA-512=[name=...,password=...]"]``)."""
        if (self.data_dir / "log" / "meta.properties").exists():
            return
        config = self.write_config()
        cmd = [self._java(), "-cp", self._classpath(), "kafka.tools.StorageTool", "format",
               f"--cluster-id={cluster_id or _cluster_id()}", "-c", str(config), "--ignore-formatted"]
        cmd += list(extra_args or [])
        if initial_controllers:
            cmd += ["--initial-controllers", initial_controllers]
        elif standalone:
            cmd.append("--standalone")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            out = f"{proc.stdout}\n{proc.stderr}"
            for arg in extra_args or []:  # never echo SCRAM passwords
                out = out.replace(arg, "<redacted>")
            raise KafkaLocalError(f"kafka storage format failed: {out}")

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if self._proc is not None and self._proc.pid == pid and self._proc.poll() is not None:
            return None  # our child exited (reaped here, so a SIGKILLed broker is not a zombie)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def start(self, wait: float = 90.0) -> "LocalBroker":
        if self.pid():
            self.wait_ready(wait)
            return self
        self.launch()
        self.wait_ready(wait)
        return self

    def launch(self) -> None:
        """Start the JVM without waiting (nodes of a multi-node quorum start together)."""
        if self.pid():
            return
        self.format()
        config = self.write_config()
        jvm = [self._java(), f"-Xms{self.heap}", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
               f"-Dlog4j2.configurationFile={LOG4J2}", f"-Dkafka.logs.dir={self.data_dir / 'logs'}"]
        if self.jaas_file:
            jvm.append(f"-Djava.security.auth.login.config={self.jaas_file}")
        cmd = jvm + ["-cp", self._classpath(), "kafka.Kafka", str(config)]
        out = open(self.data_dir / "logs" / "stdout.log", "ab")
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        self._proc = proc
        self.pid_file.write_text(str(proc.pid))

    def wait_ready(self, timeout: float = 90.0) -> float:
        """Block until the broker answers a metadata request; return seconds waited."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if not self.pid():
                raise KafkaLocalError(f"broker exited during start-up; see {self.log_file}")
            if _port_open(self.port) and self._metadata_ok():
                return time.monotonic() - started
            time.sleep(0.3)
        raise KafkaLocalError(f"broker not ready after {timeout:.0f}s; see {self.log_file}")

    def _metadata_ok(self) -> bool:
        if self.extra_properties.get("claimflow.skip.metadata.probe"):
            return True
        try:
            from kafka import KafkaAdminClient

            cfg = dict(self.probe_config) if self.probe_config else {"bootstrap_servers": self.bootstrap}
            admin = KafkaAdminClient(request_timeout_ms=3000, **cfg)
            try:
                admin.describe_cluster()
            finally:
                admin.close()
            return True
        except Exception:
            return False

    def stop(self, timeout: float = 30.0) -> None:
        pid = self.pid()
        if not pid:
            return
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid():
            time.sleep(0.2)
        if self.pid():
            os.killpg(pid, signal.SIGKILL)
            time.sleep(0.5)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL, for fault-injection tests."""
        pid = self.pid()
        if pid:
            os.killpg(pid, signal.SIGKILL)
            for _ in range(50):
                if not self.pid():
                    break
                time.sleep(0.1)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


# Broker-wide settings of a replicated cluster: internal topics are replicated on every
# node and a write is acknowledged only once two replicas have it.
REPLICATED_DEFAULTS = {
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "share.coordinator.state.topic.replication.factor": "3",
    "share.coordinator.state.topic.min.isr": "2",
    "unclean.leader.election.enable": "false",
}


@dataclass
class LocalCluster:
    """Several local KRaft nodes, each broker + controller, with one controller quorum of
    all nodes (KIP-853 dynamic quorum: formatted with --initial-controllers) and one
    cluster id. For replication and broker-failure tests; nodes are plain LocalBrokers, so
    ``cluster.nodes[i].kill()`` / ``.start()`` work on one node."""

    root: Path
    ports: list[int]
    controller_ports: list[int]
    heap: str = "384m"
    settings: Settings = field(default_factory=get_settings)
    extra_properties: dict[str, str] = field(default_factory=dict)
    nodes: list[LocalBroker] = field(default_factory=list, init=False)
    cluster_id: str = field(default_factory=lambda: _cluster_id())

    def __post_init__(self) -> None:
        if len(self.ports) != len(self.controller_ports):
            raise ValueError("one client port and one controller port per node")
        quorum = ",".join(f"127.0.0.1:{c}" for c in self.controller_ports)
        props = {**REPLICATED_DEFAULTS, **self.extra_properties} if len(self.ports) >= 3 else dict(self.extra_properties)
        self.nodes = [
            LocalBroker(data_dir=self.root / f"node{i + 1}", port=port, controller_port=cport, node_id=i + 1,
                        heap=self.heap, settings=self.settings, extra_properties=dict(props), controller_quorum=quorum)
            for i, (port, cport) in enumerate(zip(self.ports, self.controller_ports))
        ]

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)

    def initial_controllers(self) -> str:
        """``id@host:port:directory-id,...`` for kafka-storage format --initial-controllers."""
        return ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}:{_cluster_id()}" for n in self.nodes)

    def start(self, wait: float = 180.0) -> "LocalCluster":
        voters = self.initial_controllers()
        for n in self.nodes:
            n.format(cluster_id=self.cluster_id, standalone=False, initial_controllers=voters)
        for n in self.nodes:  # a quorum needs a majority up: start every JVM, then wait
            n.launch()
        for n in self.nodes:
            n.wait_ready(wait)
        return self

    def node_by_id(self, node_id: int) -> LocalBroker:
        return next(n for n in self.nodes if n.node_id == node_id)

    def stop(self) -> None:
        for n in self.nodes:
            try:
                n.stop()
            except Exception:  # keep stopping the others
                pass

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


def sasl_ssl_broker(data_dir: Path, port: int, controller_port: int, *, keystore: Path, truststore: Path,
                    client: Settings, users: dict[str, str], super_users: tuple[str, ...] = (),
                    authorizer: bool = True, heap: str = "512m") -> LocalBroker:
    """A node whose only client listener is SASL_SSL (SCRAM-SHA-512 over TLS, PEM key
    store), with KRaft's StandardAuthorizer: a principal may do only what an ACL allows
    (``allow.everyone.if.no.acl.found=false``); ``super_users`` (user names) and the
    broker's own user bypass ACLs. The KRaft controller listener stays PLAINTEXT on
    loopback; its requests come from the node itself as ``User:ANONYMOUS``, which is
    therefore a super user: no client can reach that listener as a client listener.

    ``users`` (name -> password) become SCRAM users at format time, so no credential ever
    crosses a PLAINTEXT port. Call ``format_with_users(broker, users)`` before ``start``."""
    broker_password = users.get("broker")
    if not broker_password:
        raise ValueError("users must include the broker's own SCRAM user 'broker'")
    props = {
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.broker.scram-sha-512.sasl.jaas.config":
            f'org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="{broker_password}";',
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(truststore),
        "ssl.client.auth": "none",
    }
    if authorizer:
        props.update({
            "authorizer.class.name": STANDARD_AUTHORIZER,
            "allow.everyone.if.no.acl.found": "false",
            "super.users": ";".join(f"User:{u}" for u in ("broker", "ANONYMOUS", *super_users)),
        })
    return LocalBroker(
        data_dir=data_dir, port=port, controller_port=controller_port, heap=heap, settings=client,
        listeners=f"BROKER://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        advertised_listeners=f"BROKER://127.0.0.1:{port}",
        protocol_map="BROKER:SASL_SSL,CONTROLLER:PLAINTEXT",
        inter_broker_listener="BROKER",
        extra_properties=props,
        probe_config=client.kafka_python_config(),  # readiness is probed over SASL_SSL too
    )


def format_with_users(broker: LocalBroker, users: dict[str, str]) -> None:
    """Format the node's storage with one SCRAM-SHA-512 credential per user."""
    args: list[str] = []
    for name, password in users.items():
        args += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
    broker.format(extra_args=args)


def _cluster_id() -> str:
    """A Kafka cluster id (22-char URL-safe base64 of a UUID). Passed as --cluster-id=ID
    because an id may start with '-', which argparse would take for an option."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def default_broker(settings: Settings | None = None) -> LocalBroker:
    settings = settings or get_settings()
    return LocalBroker(
        data_dir=settings.local_kafka_dir,
        port=settings.local_kafka_port,
        controller_port=settings.local_kafka_controller_port,
        heap=settings.local_kafka_heap,
        settings=settings,
    )
