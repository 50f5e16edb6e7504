"""The promotion gate on the committed model: a worse candidate is refused, an equal one passes."""

from __future__ import annotations

import json
import shutil

from tests.paths import ROOT
from training import promote

V1 = ROOT / "models" / "shelfwatch-v1-int8.onnx"


def test_gate_refuses_a_regression_and_records_a_promotion(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(promote, "FIXED_VAL", {"seed": 11, "n_val": 6, "size": 640})  # a small fixed set
    shutil.copy(V1, tmp_path / V1.name)
    shutil.copy(V1.with_suffix(".json"), tmp_path / V1.with_suffix(".json").name)
    (tmp_path / "registry.json").write_text(json.dumps({"modes": {"accurate": {"model": V1.name}}}))
    work = tmp_path / "work"

    # the same model at a quarter of the pixels finds far fewer products: refused
    rc = promote.cmd_promote(tmp_path, tmp_path / V1.name, "accurate", 320, force=False, workdir=work)
    assert rc == 1
    assert "refused" in capsys.readouterr().out
    assert json.loads((tmp_path / "registry.json").read_text()) == {"modes": {"accurate": {"model": V1.name}}}

    # forced, it is promoted and the history says it was forced
    assert promote.cmd_promote(tmp_path, tmp_path / V1.name, "fast", 320, force=True, workdir=work) == 0
    assert promote.cmd_promote(tmp_path, tmp_path / V1.name, "accurate", 320, force=True, workdir=work) == 0
    last = json.loads((tmp_path / "registry.json").read_text())["history"][-1]
    assert last["verdict"] == "regresses"
    assert last["forced"] is True
    assert last["input_size"] == 320

    # a candidate as good as the current model (here: the same one) passes the gate
    assert promote.cmd_promote(tmp_path, tmp_path / V1.name, "fast", 320, force=False, workdir=work) == 0
    reg = json.loads((tmp_path / "registry.json").read_text())
    assert reg["modes"]["fast"] == {"model": V1.name, "input_size": 320}
    assert reg["history"][-1]["verdict"] == "no regression"
    assert reg["history"][-1]["forced"] is False
