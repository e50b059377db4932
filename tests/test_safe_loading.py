"""Safe loading, checked on the source itself: every weight load goes through safetensors or
``torch.load(weights_only=True)``, arrays load without pickles, YAML only through safe_load, and
nothing imports or evaluates a name taken from a config."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "src" / "dualbranch"


def _calls() -> list[tuple[str, ast.Call]]:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call):
                found.append((f"{path.relative_to(SOURCE)}:{node.lineno}", node))
    return found


def _name(call: ast.Call) -> str:
    return ast.unparse(call.func)


def _keyword(call: ast.Call, name: str) -> object:
    for keyword in call.keywords:
        if keyword.arg == name:
            return ast.literal_eval(keyword.value) if isinstance(keyword.value, ast.Constant) else "<expr>"
    return None


def test_torch_load_is_always_weights_only():
    loads = [(where, call) for where, call in _calls() if _name(call) == "torch.load"]
    assert loads, "expected the checkpoint readers to call torch.load"
    assert [where for where, call in loads if _keyword(call, "weights_only") is not True] == []


def test_no_pickle_unsafe_yaml_eval_or_dynamic_import():
    forbidden = {"pickle.load", "pickle.loads", "yaml.load", "yaml.unsafe_load", "yaml.full_load", "eval", "exec"}
    forbidden |= {"importlib.import_module", "__import__", "torch.hub.load"}
    bad = [f"{where} {_name(call)}" for where, call in _calls() if _name(call) in forbidden]
    assert bad == []


def test_numpy_arrays_load_without_pickles():
    loads = [(where, call) for where, call in _calls() if _name(call) == "np.load"]
    assert loads
    assert [where for where, call in loads if _keyword(call, "allow_pickle") is not False] == []
