from __future__ import annotations

import threading

from services.payer_gateway.state import ControlNumberStore, SubmissionLedger, SubmissionRecord, atomic_write


def test_counters_persist_and_are_unique_across_threads(tmp_path):
    store = ControlNumberStore(tmp_path)
    assert store.next("isa") == 1 and store.next("isa") == 2 and store.next("gs") == 1
    got: list[int] = []
    lock = threading.Lock()

    def work():
        s = ControlNumberStore(tmp_path)  # a separate instance, like another process
        for _ in range(25):
            n = s.next("isa")
            with lock:
                got.append(n)

    threads = [threading.Thread(target=work) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(set(got)) == 100
    assert ControlNumberStore(tmp_path).peek("isa") == 102


def test_counter_wraps_at_nine_digits(tmp_path):
    atomic_write(tmp_path / "control_numbers.json", b'{"isa": 999999999}')
    assert ControlNumberStore(tmp_path).next("isa") == 1


def test_ledger_survives_restart_and_torn_line(tmp_path):
    led = SubmissionLedger(tmp_path)
    led.record([SubmissionRecord("CF1", "000000001", "1", "0001", "a.837", "R")])
    with open(tmp_path / "submitted.jsonl", "a") as fh:
        fh.write('{"claim_id": "CF2", "interch')  # crash mid-write
    again = SubmissionLedger(tmp_path)
    assert again.already_written("CF1") and not again.already_written("CF2")
    again.record([SubmissionRecord("CF3", "000000002", "2", "0001", "b.837", "R")])
    third = SubmissionLedger(tmp_path)
    assert third.already_written("CF3") and third.claims_for_set("2", "1") == ["CF3"]
