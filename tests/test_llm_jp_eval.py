"""llm-jp-eval category maps: presets, members, errors."""
from __future__ import annotations

import pytest

from wasurenai.common import WorkflowError
from wasurenai.llm_jp_eval import CATEGORY_PRESETS, parse_member, resolve_categories
from wasurenai.metrics import NOT_EVALUATED, MetricSuite

PAPER_CATEGORIES = ["NLI", "QA", "RC", "MC", "EL", "FA", "MR", "MT", "HE", "CG"]


def test_presets_have_their_versions_categories():
    assert sorted(resolve_categories("paper")) == sorted(PAPER_CATEGORIES)
    assert sorted(resolve_categories("v1.3.0")) == sorted(set(PAPER_CATEGORIES) - {"CG"})
    assert sorted(resolve_categories("v1.4.1")) == sorted([*PAPER_CATEGORIES, "SUM"])
    for preset in CATEGORY_PRESETS:  # MT is scored by COMET, as llm-jp-eval does
        assert {m for _, m in resolve_categories(preset)["MT"]} == {"comet_wmt22"}


def test_v130_map_is_post_process_score_results_of_v130():
    """llm-jp-eval v1.3.0's utils.post_process_score_results keys (f"{dataset}_{metric}"),
    transcribed from its source; the preset must give exactly these."""
    v130 = {
        "NLI": ["jamp_exact_match", "janli_exact_match", "jnli_exact_match",
                "jsem_exact_match", "jsick_exact_match"],
        "QA": ["jemhopqa_char_f1", "niilc_char_f1"], "RC": ["jsquad_char_f1"],
        "MC": ["jcommonsenseqa_exact_match"], "HE": ["mmluen_exact_match", "jmmlu_exact_match"],
        "EL": ["chabsa_set_f1"],
        "FA": ["wiki_reading_char_f1", "wiki_ner_set_f1", "wiki_dependency_set_f1",
               "wiki_pas_set_f1", "wiki_coreference_set_f1"],
        "MR": ["mawps_exact_match"],
        "MT": ["alt-e-to-j_comet_wmt22", "alt-j-to-e_comet_wmt22",
               "wikicorpus-e-to-j_comet_wmt22", "wikicorpus-j-to-e_comet_wmt22"],
    }
    got = {cat: [f"{d}_{m}" for d, m in members]
           for cat, members in resolve_categories("v1.3.0").items()}
    assert got == v130
    paper = resolve_categories("paper")
    assert paper["CG"] == [("mbpp", "code_exec")]
    assert {c: m for c, m in paper.items() if c != "CG"} == resolve_categories("v1.3.0")


def test_every_preset_metric_is_computed_or_explicitly_not_evaluated():
    suite = MetricSuite()
    for preset in CATEGORY_PRESETS:
        for members in resolve_categories(preset).values():
            for _, metric in members:
                assert metric in suite.metrics or metric in NOT_EVALUATED, metric


def test_parse_member():
    assert parse_member("jsquad") == ("jsquad", None)
    assert parse_member("alt-e-to-j:comet_wmt22") == ("alt-e-to-j", "comet_wmt22")
    for bad in ("", ":exact_match", "a:", "a:b:c"):
        with pytest.raises(WorkflowError, match="evaluation.categories"):
            parse_member(bad)


def test_resolve_categories_errors_name_the_key():
    with pytest.raises(WorkflowError, match=r"unknown preset 'v9'.*paper.*v1.3.0.*v1.4.1"):
        resolve_categories("v9")
    with pytest.raises(WorkflowError, match=r"evaluation.categories.QA"):
        resolve_categories({"QA": []})
    with pytest.raises(WorkflowError, match=r"evaluation.categories.MT"):
        resolve_categories({"MT": ["alt:"]})
    assert resolve_categories({"X": ["a", "b:char_f1"]}) == {"X": [("a", None), ("b", "char_f1")]}
