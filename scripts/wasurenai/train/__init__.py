"""Training a causal LM through DeepSpeed (demo pretraining, instruct tuning and CPT), in
four parts:

- ``hyperparameters``: the rules for a hyperparameter dict (the config schema's, and the
  cross-key ones), defaults, the LR schedule and DeepSpeed's batch configuration;
- ``loop``: ``train``, which reads top to bottom, and ``train_step``;
- ``checkpoints``: resumable checkpoints, the metrics log and the saved model;
- ``launch``: one process, or one per device through torchrun (srun over several nodes);
  ``main`` runs a ``jobs.TrainJob``.

``model`` builds the model (any transformers causal-LM family) and checks the data fit it;
``distributed`` gives an unlaunched run its one-process group.
"""
from wasurenai.train.hyperparameters import (
    deepspeed_config, hp_defaults, lr_at, total_steps, validate_hp,
)
from wasurenai.train.launch import _free_port, launch, launch_command, main, processes_per_node
from wasurenai.train.loop import train, train_step, window_order
from wasurenai.train.model import build_model, check_data, copy_tokenizer_files

__all__ = [
    "hp_defaults", "_free_port", "build_model", "check_data", "copy_tokenizer_files",
    "deepspeed_config", "launch", "launch_command", "lr_at", "main", "processes_per_node",
    "total_steps", "train", "train_step", "validate_hp", "window_order",
]
