"""One process of a launched run (see ``launch.launch_command``): ``python -m
wasurenai.train <spec.json>``, the spec being ``train``'s arguments."""
import os
import sys

from wasurenai.common import get_logger, read_json
from wasurenai.train.loop import train

train(**read_json(sys.argv[1]), logger=get_logger(f"train.rank{os.environ.get('RANK', 0)}"))
