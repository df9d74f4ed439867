"""Atomic outputs and the llm-jp-eval dataset reader and prompt."""
from __future__ import annotations

import json
import os

import pytest

from wasurenai.common import WorkflowError, atomic_dir, atomic_open, write_json
from wasurenai.llm_jp_eval import Sample, build_prompt, few_shots, load_dataset


def test_atomic_dir_appears_only_on_success(tmp_path):
    out = tmp_path / "model"
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "weights").write_text("half")
            raise RuntimeError("killed")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
    with atomic_dir(out) as tmp:
        (tmp / "weights").write_text("all")
    assert (out / "weights").read_text() == "all"


def test_atomic_open_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "x.json"
    write_json(path, {"a": 1})
    with pytest.raises(ValueError):
        with atomic_open(path) as fh:
            fh.write("{broken")
            raise ValueError
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_prompt_matches_llm_jp_eval_byte_for_byte():
    prompt = build_prompt("足し算をしてください。", [Sample("1+1", "2")], "2+3")
    expected = (
        "以下は、タスクを説明する指示と、文脈のある入力の組み合わせです。要求を適切に満たす応答を書きなさい。"
        "\n\n### 指示:\n足し算をしてください。"
        "\n\n### 入力:\n1+1\n\n### 応答:\n2"
        "\n\n### 入力:\n2+3\n\n### 応答:\n"
    )
    assert prompt == expected


def _dataset(tmp_path, split, name, **override):
    data = {
        "instruction": "答えてください。",
        "output_length": 8,
        "metrics": ["exact_match"],
        "few_shots": [],
        "samples": [{"input": f"q{i}", "output": f"a{i}"} for i in range(5)],
    }
    data.update(override)
    path = tmp_path / split / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_few_shots_come_from_the_head_of_the_sibling_train(tmp_path):
    _dataset(tmp_path, "train", "qa")
    test_split = tmp_path / "test"  # llm-jp-eval's dataset_dir; few-shots from ../train
    assert few_shots(test_split, "qa", 2) == [Sample("q0", "a0"), Sample("q1", "a1")]
    assert few_shots(tmp_path / "dev", "qa", 2) == few_shots(test_split, "qa", 2)
    assert few_shots(test_split, "qa", 0) == []


@pytest.mark.parametrize(
    "override, field",
    [
        ({"instruction": 3}, "instruction"),
        ({"output_length": 0}, "output_length"),
        ({"metrics": []}, "metrics"),
        ({"samples": [{"input": "x"}]}, "samples[0]"),
    ],
)
def test_bad_dataset_names_file_and_field(tmp_path, override, field):
    path = _dataset(tmp_path, "test", "bad", **override)
    with pytest.raises(WorkflowError) as err:
        load_dataset(path)
    assert str(path) in str(err.value) and field in str(err.value)


def test_non_json_dataset_names_the_file(tmp_path):
    path = tmp_path / "test" / "junk.json"
    path.parent.mkdir()
    path.write_bytes(b"\xff\xfe not json")
    with pytest.raises(WorkflowError, match="junk.json"):
        load_dataset(path)


def test_atomic_outputs_get_ordinary_permissions(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "d"):
            pass
        write_json(tmp_path / "f.json", {})
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "f.json").stat().st_mode) == 0o644


def test_offline_sets_the_offline_variables_and_keeps_a_users_choice(monkeypatch):
    from wasurenai.common import OFFLINE_ENV, offline

    for key in OFFLINE_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # a user who allows downloads
    offline()
    assert os.environ["HF_HUB_OFFLINE"] == "0"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1" and os.environ["TOKENIZERS_PARALLELISM"] == "false"
