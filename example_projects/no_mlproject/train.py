"""A project without an MLproject file: run with `mlrun run . -e train.py -P epochs=2`."""

import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=1)
args = parser.parse_args()
print(f"trained for {args.epochs} epochs")
