"""`python -m dcnmix_torch.train`: the same trainer as dcnmix_jax.train, on the PyTorch twin.

Imports no JAX: the loop and the data layer it uses are framework-free.
"""
import sys

from dcnmix_jax.train import main

if __name__ == "__main__":
    sys.exit(main(framework="torch"))
