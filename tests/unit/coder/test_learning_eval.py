"""The learning evaluation's simulated coder answers with the labels (never the coder's
output), and the label folders of both layouts read the same way."""

from __future__ import annotations

import json

from claimflow.models import ResolutionAction
from services.coder import learning_eval
from tests.unit.coder.coder_helpers import NOW, SCT, dx, make_enc


def _review(coder):
    enc = make_enc(minutes=25, dxs=[dx("271594007", "Syncope", SCT, True)])
    return enc, coder.code(enc, NOW).review


def test_simulated_coder_uses_the_label_answer(coder, ref):
    enc, review = _review(coder)
    assert review is not None
    proposed = [ln.code for ln in review.proposed_service_lines]
    label = {"outcome": "coded", "icd10cm": ["R55"], "cpt": proposed, "modifiers": [], "em": proposed[0]}
    res = learning_eval.simulated_resolution(ref, enc, review, label, 1)
    assert res.action is ResolutionAction.EDIT and [d.code for d in res.diagnoses] == ["R55"]
    assert [ln.code for ln in res.service_lines] == proposed and res.resolved_by == "simulated-coder"
    same = {"outcome": "coded", "icd10cm": [d.code for d in review.proposed_diagnoses], "cpt": proposed}
    assert learning_eval.simulated_resolution(ref, enc, review, same, 2).action is ResolutionAction.ACCEPT
    query = learning_eval.simulated_resolution(ref, enc, review, {"outcome": "review", "icd10cm": ["R55"]}, 3)
    assert query.action is ResolutionAction.QUERY_PROVIDER and not query.diagnoses


def test_label_lines_from_tokens_or_lines():
    assert learning_eval._label_lines({"cpt": ["99213", "90472x2"], "modifiers": ["99213-25"]}) == [
        ("99213", ("25",), 1), ("90472", (), 2)]
    assert learning_eval._label_lines({"lines": [{"code": "20610", "units": 1, "modifiers": ["RT"]}]}) == [("20610", ("RT",), 1)]


def test_both_label_layouts_read_and_say_which_labels_code_the_visit(tmp_path):
    new = tmp_path / "new"
    (new / "synthea").mkdir(parents=True)
    rows = [{"bundle": "b.json", "encounter": "e1", "outcome": "auto-coded"}, {"bundle": "b.json", "encounter": "e2", "outcome": "self-pay"},
            {"bundle": "b.json", "encounter": "e3", "outcome": "pre-ICD-10"}, {"bundle": "b.json", "encounter": "e4", "outcome": "review"}]
    (new / "synthea" / "b.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    _, got = learning_eval.load_answers(new)
    assert {k[1]: learning_eval.codable(v) for k, v in got.items()} == {"e1": True, "e2": True, "e3": False, "e4": False}
    old = tmp_path / "old"
    old.mkdir()
    (old / "synthea_labels.jsonl").write_text(json.dumps({"bundle": "b.json", "encounter": "e9", "outcome": "coded"}) + "\n")
    assert learning_eval.codable(learning_eval.load_answers(old)[1][("b.json", "e9")])
