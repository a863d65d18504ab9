"""`python -m dcnmix`: the `dcnmix` command."""
import sys

from .cli import main

sys.exit(main())
