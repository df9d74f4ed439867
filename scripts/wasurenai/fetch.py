"""Download a base model from the Hugging Face hub into its configured path, atomically."""
from __future__ import annotations

import os

from .common import WorkflowError, atomic_dir, get_logger
from .jobs import FetchBaseJob


def fetch(repo_id: str, out_dir, logger=None) -> None:
    # The workflow runs offline (HF_HUB_OFFLINE=1); this rule is the one place that may
    # download, so it lifts that before huggingface_hub reads it.
    os.environ["HF_HUB_OFFLINE"] = "0"
    os.environ.pop("TRANSFORMERS_OFFLINE", None)
    from huggingface_hub import snapshot_download

    with atomic_dir(out_dir) as tmp:
        snapshot_download(repo_id=repo_id, local_dir=str(tmp),
                          allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt"])
        if not (tmp / "config.json").is_file():
            raise WorkflowError(f"{repo_id}: the download has no config.json")
    if logger:
        logger.info("fetched %s -> %s", repo_id, out_dir)


def main(job: FetchBaseJob) -> None:
    fetch(job.repo_id, job.out_dir, get_logger("fetch", job.log))
