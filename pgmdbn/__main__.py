"""``python -m pgmdbn ...``: the ``pgmdbn`` command (also under ``torchrun ... -m pgmdbn train ...``)."""
import sys

from .cli import main

sys.exit(main())
