"""Each rule runs workflow/scripts/<rule>.py, a script that builds the rule's job object."""
from __future__ import annotations

import re

from helpers import REPO

# Scripts not named after their rule, and why.
RENAMED = {"tokenize": "tokenize_corpus"}  # tokenize.py would shadow the standard library's
GENERATED = {"fetch_base_": "fetch_base", "sweep_": "sweep"}  # rules named f"{prefix}{name}"


def rule_scripts() -> dict[str, str]:
    """rule name (a generated rule's: its prefix) -> the script its `script:` names."""
    found = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text(encoding="utf-8")
        blocks = re.split(r"^\s*rule\b", text, flags=re.M)[1:]
        for block in blocks:
            header = re.match(r"\s*(\w*)\s*:", block).group(1)
            name = header or re.search(r'name:\s*f"(\w+?)\{', block).group(1)
            script = re.search(r'script:\s*"([^"]+)"', block)
            if script:
                found[name] = script.group(1)
    return found


def test_every_rule_runs_the_entry_script_named_after_it():
    scripts = rule_scripts()
    assert {"merge", "evaluate", "continual_pretrain", "tokenize", "fetch_base_", "sweep_"} <= set(scripts)
    for rule, path in scripts.items():
        expected = GENERATED.get(rule) or RENAMED.get(rule, rule)
        assert path == f"../scripts/{expected}.py", (rule, path)
        assert (REPO / "workflow" / "scripts" / f"{expected}.py").is_file(), rule


def test_no_entry_script_shadows_a_standard_library_module():
    import sys

    for script in (REPO / "workflow" / "scripts").glob("*.py"):
        assert script.stem not in sys.stdlib_module_names, script.name
    assert not list((REPO / "scripts").glob("*.py"))  # the library folder holds only the package
