"""`python -m dcnmix_jax.train`: the old name of `dcnmix train` (see dcnmix.cli)."""
import sys

from dcnmix.cli import train_main as main

if __name__ == "__main__":
    sys.exit(main())
