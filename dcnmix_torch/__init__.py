"""dcnmix_torch: the PyTorch twin of the seed's DCN-Mix code (see dcnmix_torch.model)."""
from .model import (DCN, DNN, CrossCell, CrossNet, Embedding, FullCrossCell, MOECrossCell, count_params,
                    model_for)

__all__ = ["DCN", "DNN", "CrossCell", "CrossNet", "Embedding", "FullCrossCell", "MOECrossCell",
           "count_params", "model_for"]
