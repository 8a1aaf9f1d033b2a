"""The CLI's edges: a broker that is down, unknown services and bad values give one line and
an exit code, never a traceback (issue #18, items 2, 3 and 8)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from claimflow.reach import KafkaUnreachable, bootstrap_addresses, ensure_reachable
from claimflow.settings import REPO_ROOT, Settings
from claimflow_app.runner import RUNNABLE

FIXTURES = REPO_ROOT / "tests" / "fixtures"


def _one_line_error(result) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in result.output
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture
def encounters_file(tmp_path):
    from claimflow.synthetic import EncounterGenerator

    gen = EncounterGenerator(seed=3)
    path = tmp_path / "enc.jsonl"
    path.write_text("".join(gen.encounter(i)[0].model_dump_json() + "\n" for i in range(2)))
    return path


KAFKA_COMMANDS = [
    ["topics", "list"],
    ["topics", "create"],
    ["publish", "encounters", "{enc}"],
    ["publish", "adjudications", "{enc}"],
    ["ingest", "fhir", str(FIXTURES / "fhir" / "office-visit-with-coverage.json")],
    ["x12", "export", "--outbox", "{tmp}/out", "--state-dir", "{tmp}/state"],
    ["x12", "import", str(FIXTURES / "x12" / "remit_multi.835"), "--state-dir", "{tmp}/state"],
    ["claims", "held"],
    ["claims", "show", "C123"],
    ["run", "coder"],
    ["run", "all"],
    ["dlq", "list"],
    ["dlq", "show", "dlq.coder.v1:0:1"],
    ["dlq", "replay", "--service", "coder", "--by", "ops1", "--reason", "fixed"],
    ["dlq", "discard", "dlq.coder.v1:0:1", "--by", "ops1", "--reason", "duplicate"],
    ["demo", "--bootstrap", "{dead}"],
]


@pytest.mark.parametrize("argv", KAFKA_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_commands_that_need_kafka_fail_with_one_line_and_exit_3(cli, dead_bootstrap, encounters_file, tmp_path, argv):
    argv = [a.format(enc=encounters_file, tmp=tmp_path, dead=dead_bootstrap) for a in argv]
    env = {"CLAIMFLOW_KAFKA_BOOTSTRAP": dead_bootstrap, "CLAIMFLOW_KAFKA_CONNECT_TIMEOUT_SECONDS": "1",
           "CLAIMFLOW_DATA_DIR": str(tmp_path / "data")}
    result = cli(*argv, env=env)
    assert result.exit_code == 3, result.output
    line = _one_line_error(result)
    assert line == (f"error: cannot reach Kafka at {dead_bootstrap} — start it with `make kafka-up` "
                    "or set CLAIMFLOW_KAFKA_BOOTSTRAP")


def test_default_deadline_as_a_user_runs_it(dead_bootstrap, tmp_path):
    """The real entry point with the default 10 s setting: exit 3, one line, no traceback.
    (The subprocess timeout is a hang guard, not a speed assertion.)"""
    env = {"PATH": "/usr/bin:/bin", "CLAIMFLOW_KAFKA_BOOTSTRAP": dead_bootstrap, "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "claimflow_app.cli", "topics", "list"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 3
    assert proc.stderr.strip().splitlines() == [
        f"error: cannot reach Kafka at {dead_bootstrap} — start it with `make kafka-up` or set CLAIMFLOW_KAFKA_BOOTSTRAP"]
    assert proc.stdout == ""


def test_probe_gives_up_after_its_deadline(dead_bootstrap):
    with pytest.raises(KafkaUnreachable) as err:
        ensure_reachable(Settings(kafka_bootstrap=dead_bootstrap), timeout=0.5)
    assert dead_bootstrap in str(err.value)


def test_bootstrap_lists_are_split_into_addresses():
    assert bootstrap_addresses("b1:9093, b2:9094,") == [("b1", 9093), ("b2", 9094)]


def test_unknown_service_lists_the_registry(cli):
    result = cli("run", "coderr")
    assert result.exit_code == 1
    line = _one_line_error(result)
    assert line == f"error: unknown service 'coderr'; choose one of: {', '.join(RUNNABLE)}, all"
    assert "fhir-gateway" in RUNNABLE


def test_run_help_prints_the_same_registry(cli):
    result = cli("run", "--help")
    assert result.exit_code == 0
    assert ", ".join(RUNNABLE) in " ".join(result.output.split())


def test_run_all_starts_the_fhir_gateway_too(monkeypatch, tmp_path):
    """`run all` spawns one process per registry entry, the FHIR gateway included."""
    from claimflow_app import runner

    spawned = []

    class Stop(Exception):
        pass

    def fake_spawn(service, log_dir, env=None):
        spawned.append(service)
        if len(spawned) == len(RUNNABLE):
            raise Stop
        return None

    monkeypatch.setattr("claimflow_app.services.spawn", fake_spawn)
    with pytest.raises(Stop):
        runner.run_all(Settings(data_dir=tmp_path))
    assert spawned == list(RUNNABLE)
    assert "fhir-gateway" in spawned


@pytest.mark.parametrize("argv, where", [
    (["generate", "encounters", "--count", "-5", "--out", "{tmp}/e.jsonl"], "--count"),
    (["generate", "encounters", "--defect-rate", "1.5", "--out", "{tmp}/e.jsonl"], "--defect-rate"),
    (["generate", "adjudications", "--encounters", "{enc}", "--deny-rate", "-0.1", "--out", "{tmp}/a.jsonl"], "--deny-rate"),
])
def test_negative_and_out_of_range_values_are_refused(cli, tmp_path, encounters_file, argv, where):
    result = cli(*[a.format(tmp=tmp_path, enc=encounters_file) for a in argv])
    assert result.exit_code == 2
    line = _one_line_error(result)
    assert line.startswith("error: ") and where in line
    assert not (tmp_path / "e.jsonl").exists() and not (tmp_path / "a.jsonl").exists()


@pytest.mark.parametrize("option, value, words", [
    ("--rendering-npi", "1234567890", "fails the NPI check digit"),
    ("--billing-npi", "12345", "an NPI is 10 digits"),
    ("--units", "-3", "-3 is not in the range x>=1"),
    ("--charge", "-1.00", "an amount is a number of 0 or more"),
    ("--charge", "12.345", "at most 2 decimals"),
])
def test_claims_correct_refuses_bad_values_in_one_line(cli, dead_bootstrap, option, value, words):
    result = cli("claims", "correct", "CF123", "--by", "biller-1", "--line", "1", option, value,
                 env={"CLAIMFLOW_KAFKA_BOOTSTRAP": dead_bootstrap})
    assert result.exit_code == 2, result.output
    line = _one_line_error(result)
    assert words in line and option in line
    assert "pydantic" not in line and "input_value" not in line


def test_valid_npi_passes_the_edge_check():
    from services.ops.params import NPI

    assert NPI.convert("1234567893", None, None) == "1234567893"


def test_stop_all_signals_every_service_at_once(tmp_path):
    """`run all` stops its children together: every child has its SIGTERM before the first
    one has finished shutting down (an ordering check, not a speed one)."""
    from claimflow_app.services import ServiceProcess
    from claimflow_app.runner import stop_all

    script = ("import signal, sys, time, pathlib\n"
              "out = pathlib.Path(sys.argv[1])\n"
              "def stop(*a):\n"
              "    (out / 'got').write_text(repr(time.monotonic())); time.sleep(1)\n"
              "    (out / 'exit').write_text(repr(time.monotonic())); sys.exit(0)\n"
              "signal.signal(signal.SIGTERM, stop)\n"
              "(out / 'ready').write_text('1')\n"
              "time.sleep(60)\n")
    dirs = [tmp_path / f"svc{i}" for i in range(3)]
    for d in dirs:
        d.mkdir()
    procs = [ServiceProcess(d.name, subprocess.Popen([sys.executable, "-c", script, str(d)]), d / "log") for d in dirs]
    import time

    while not all((d / "ready").exists() for d in dirs):
        time.sleep(0.05)
    stop_all(procs)
    assert [p.proc.returncode for p in procs] == [0, 0, 0]
    got = [float((d / "got").read_text()) for d in dirs]
    exited = [float((d / "exit").read_text()) for d in dirs]
    assert max(got) < min(exited), "a child was signalled only after another had stopped"
