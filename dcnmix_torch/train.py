"""`python -m dcnmix_torch.train`: `dcnmix train --framework torch` under its old name.

Imports no JAX: the loop, the data layer and the run folder are dcnmix's (framework-free).
"""
import sys

from dcnmix.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main(framework="torch"))
