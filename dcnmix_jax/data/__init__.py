"""The numpy-only data layer that feeds both trainers (imports no framework)."""
from .dataset import Dataset, batch_order, batches, check_ids, split, split_indices
from .errors import DataError
from .libfm import FRAPPE_FIELDS, load_frappe, load_libfm, load_libfm_splits, read_libfm
from .synthetic import synthetic
from .tabular import load_criteo, load_csv
from .vocab import Vocabulary, bucketize

__all__ = ["Dataset", "DataError", "Vocabulary", "batch_order", "batches", "bucketize",
           "check_ids", "load_criteo", "load_csv", "load_frappe", "load_libfm",
           "load_libfm_splits", "read_libfm", "split", "synthetic", "FRAPPE_FIELDS"]
