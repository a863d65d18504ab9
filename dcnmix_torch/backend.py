"""The PyTorch backend (dcnmix.backends.Backend), registered as entry point `torch` of the
group `dcnmix.backends`: the twin's training (dcnmix_torch.trainer), inference, ONNX export
and CPU threads. Importing this module imports no torch; each method imports what it needs.
"""
from __future__ import annotations

import warnings

import numpy as np

ONNX_OPSET = 17


class Predictor:
    """A run's weights in the twin: `predictor(ids)` -> probabilities; .module (eval mode)."""

    def __init__(self, cfg, arrays):
        import torch
        from .model import model_for
        self.config = cfg
        self.module = model_for(cfg).eval()
        self.module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()},
                                    strict=True)

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        import torch
        from .inputs import to_torch
        with torch.no_grad():
            return self.module(to_torch(ids)).numpy()


def named_inputs(module, names, feat_dim: int):
    """The module taking its inputs as separate tensors, in `names` order (the ONNX graph's
    named inputs), rebuilt into the batch the model takes. A row holding an id outside
    [0, feat_dim) (multi: [-1, feat_dim), -1 padding) gives NaN (docs/serving.md): its ids
    are replaced before the gather, which would otherwise read out of bounds."""
    import torch

    class Serving(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = module

        def forward(self, *arrays):
            ok = None
            for name, a in zip(names, arrays):
                if a.dtype in (torch.int32, torch.int64):
                    low = -1 if name == "multi" else 0
                    row = ((a >= low) & (a < feat_dim)).flatten(1).all(1)
                    ok = row if ok is None else ok & row
            safe = [torch.where(ok.view(-1, *[1] * (a.dim() - 1)), a, torch.zeros_like(a))
                    if a.dtype in (torch.int32, torch.int64) else a for a in arrays]
            probs = self.model(safe[0] if len(safe) == 1 else dict(zip(names, safe)))
            return torch.where(ok, probs, torch.full_like(probs, float("nan")))
    return Serving()


class TorchBackend:
    name = "torch"
    # the twin trains on one device, in float32 or float64, with dense optimisers; it
    # computes the seed's expert order whatever --mixture says
    supports = {"embedding_optimizer": ("dense",), "dtype": ("float32", "float64"),
                "mesh": (False,)}
    apis = ("module",)          # a torch.nn.Module
    export_formats = {"onnx": "torch.onnx.export of the twin, dynamic batch axis; the inputs of "
                              "docs/serving.md (ids int32 [batch, fields], ...); run with "
                              "onnxruntime.InferenceSession"}

    def trainer(self, cfg, tc, *, mesh=None, data_budget=None):
        from .trainer import TorchTrainer
        return TorchTrainer(cfg, tc)

    def predictor(self, cfg, arrays, *, api=None) -> Predictor:
        return Predictor(cfg, arrays)

    def export(self, fmt: str, predictor: Predictor, out: str, *, platforms=None) -> dict:
        """ONNX of the twin (any platform onnxruntime runs on: `platforms` does not apply).
        Its inputs are those of dcnmix.data.features.serving_inputs, by name, batch and list
        length dynamic."""
        import torch
        from dcnmix.data.features import serving_inputs
        from dcnmix.data.features import describe
        from dcnmix.backends import require_extra
        require_extra("onnx", extra="export", purpose="ONNX export")
        if fmt != "onnx":
            raise ValueError(f"the torch backend exports {tuple(self.export_formats)}, not {fmt!r}")
        if platforms:
            raise ValueError("--platforms applies to stablehlo; an ONNX file runs wherever "
                             "onnxruntime does")
        inputs = serving_inputs(predictor.config)
        names = [name for name, _, _ in inputs]
        example = tuple(torch.zeros(tuple(2 if d in ("batch", "length") else d for d in shape),
                                    dtype=getattr(torch, np.dtype(dtype).name))
                        for _, dtype, shape in inputs)
        axes = {name: {i: d for i, d in enumerate(shape) if isinstance(d, str)}
                for name, _, shape in inputs}
        import io
        from dcnmix.files import write_bytes
        buffer = io.BytesIO()
        with warnings.catch_warnings():   # the TorchScript exporter: deprecated, needs no onnxscript
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(named_inputs(predictor.module, names, predictor.config.feat_dim), example, buffer, input_names=names,
                              output_names=["probs"], opset_version=ONNX_OPSET, dynamo=False,
                              dynamic_axes={**axes, "probs": {0: "batch"}})
        write_bytes(out, buffer.getvalue())
        return {"format": "onnx", "opset": ONNX_OPSET, "input": describe(inputs)}

    def set_threads(self, threads: int) -> None:
        import torch
        torch.set_num_threads(threads)

    def compilation_cache(self, folder):
        return None          # the twin runs eagerly: nothing compiled to keep

    def scale_out(self, *, mesh, coordinator, num_processes, process_id):
        raise ValueError("the torch backend trains on one device: --mesh and --coordinator are "
                         "JAX options")


BACKEND = TorchBackend()
