"""Config names: one pattern for bases, tokenizers, merges, sweeps and grid points; clashes
with model roles and between sweeps fail naming both."""
from __future__ import annotations

import pytest

from wasurenai.common import WorkflowError
from wasurenai.grid import expand
from wasurenai.names import check_config_names, check_model_names, check_name

ROLES = ["base", "ja-en", "en-ja"]
TV = {"ties"}
LINEAR = {"label": "L", "method": "linear", "weights": {"base": 0.5, "ja-en": 0.5}}


@pytest.mark.parametrize("name", ["linear", "ties-dare", "llm-jp-3-3.7b", "a_b.c", "7b", "X"])
def test_good_names_pass(name):
    check_name("merges.x", name)


@pytest.mark.parametrize("name", [
    "a b;touch /tmp/x", "../../escape", "a/b", "..", ".", ".hidden", "-rf", "a b", "x$(id)",
    "名前", "a+b", "", "tab\tname", 3,
])
def test_unsafe_names_fail_naming_the_key(name):
    with pytest.raises(WorkflowError, match=r"^merges\.x: .* is not a valid name \(a letter or digit"):
        check_name("merges.x", name)


@pytest.mark.parametrize("section, key", [
    ("bases", "bases.../../escape"), ("merges", "merges.../../escape"),
    ("sweeps", "sweeps.../../escape"),
])
def test_config_names_are_checked_per_section(section, key):
    config = {"bases": {"tiny": {"label": "B", "demo": "pretrain"}}, "merges": {"linear": LINEAR},
              "sweeps": {}}
    config[section]["../../escape"] = {"label": "x"}
    with pytest.raises(WorkflowError) as err:
        check_config_names(config)
    assert str(err.value).startswith(f"{key}: '../../escape' is not a valid name")


def test_tokenizer_names_are_checked():
    config = {"bases": {"b": {"label": "B", "path": "/m", "tokenizer": "my tok"}}, "merges": {}}
    with pytest.raises(WorkflowError, match=r"^bases\.b\.tokenizer: 'my tok'"):
        check_config_names(config)


def test_a_merge_named_like_a_model_role_fails_naming_both():
    with pytest.raises(WorkflowError) as err:
        check_model_names({"linear": LINEAR, "ja-en": LINEAR}, ROLES)
    assert str(err.value).startswith("merges.ja-en: the name 'ja-en' is also the model role 'ja-en'")


def test_a_sweep_point_named_like_a_model_role_fails_naming_the_sweep():
    merges = expand({}, {"base": {"label": "S", "method": "linear", "weights": {"base": 1.0}}},
                    ROLES[1:], TV)
    with pytest.raises(WorkflowError, match=r"^sweeps\.base \(point base\): the name 'base' is also"):
        check_model_names(merges, ROLES)


def test_two_sweeps_expanding_to_one_point_fail_naming_both():
    sweeps = {"lin": {"label": "A", "method": "linear", "base_share": [0.5]},
              "lin-share0.5": {"label": "B", "method": "linear", "base_share": 0.5}}
    with pytest.raises(WorkflowError,
                       match=r"sweeps\.lin-share0\.5: grid point 'lin-share0\.5' clashes with sweeps\.lin"):
        expand({}, sweeps, ROLES[1:], TV)


def test_grid_point_names_from_values_are_checked():
    sweep = {"label": "T", "method": "ties", "parameters": {"method": ["sum", "a b"]},
             "weights": {"ja-en": 1.0}}
    with pytest.raises(WorkflowError, match=r"sweeps\.t \(point t-methoda b\): 't-methoda b' is not"):
        expand({}, {"t": sweep}, ROLES[1:], TV)
