"""wasurenai: continual pretraining on parallel text, then merging to undo forgetting.

Library code for the Snakemake rules. Each module is one stage; the files in
``scripts/*.py`` are the thin entry points the rules call.
"""
