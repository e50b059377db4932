"""The bad-input catalogue (tests/bad_input_cases.py): every case gives its documented error, and
docs/errors.md, generated from the same table, is up to date."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bad_input_cases import CASES, message_of

ROOT = Path(__file__).resolve().parent.parent
MEASURED: dict[str, str] = {}  # messages of the cases run above, reused for the docs check


def test_catalogue_has_at_least_30_distinct_cases_in_every_area():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)) >= 30
    assert {case.area for case in CASES} == {"model", "data", "signal", "config", "checkpoint", "run"}
    assert sum(case.id.startswith("cli-") for case in CASES) >= 10


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_gives_a_clear_error(case, tmp_path):
    message = message_of(case, tmp_path)
    MEASURED[case.id] = message
    assert "Traceback" not in message and len(message) < 1200
    assert "\n" not in message or case.area == "checkpoint"  # only a mismatch report lists keys on several lines


def test_errors_doc_is_up_to_date(tmp_path):
    spec = importlib.util.spec_from_file_location("gen_error_docs", ROOT / "scripts" / "gen_error_docs.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    expected = generator.render(tmp_path, MEASURED)
    current = (ROOT / "docs" / "errors.md").read_text()
    regenerate = "PYTHONPATH=src .venv/bin/python scripts/gen_error_docs.py"
    assert current == expected, f"docs/errors.md is stale; regenerate it: {regenerate}"
