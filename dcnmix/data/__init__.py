"""The numpy-only data layer that feeds both trainers (imports no framework)."""
from .dataset import (Dataset, batch_order, batches, check_ids, fingerprint, split,
                      split_indices)
from .errors import DataError
from .shards import read_prepared
from .libfm import FRAPPE_FIELDS, load_frappe, load_libfm, load_libfm_splits, read_libfm
from .specs import DataSpec, DatasetSpecError, load_splits
from .synthetic import synthetic
from .tabular import TokenTable, load_criteo, load_csv, read_criteo, read_csv
from .vocab import Vocabulary, bucketize

__all__ = ["Dataset", "DataError", "DataSpec", "DatasetSpecError", "TokenTable", "Vocabulary",
           "batch_order", "batches", "bucketize", "check_ids", "load_criteo", "load_csv",
           "load_frappe", "load_libfm", "load_libfm_splits", "load_splits", "read_criteo", "read_prepared",
           "read_csv", "read_libfm", "split", "split_indices", "synthetic", "FRAPPE_FIELDS"]
