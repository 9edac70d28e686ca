"""Golden outputs from TensorFlow Lite's own interpreters, one per rounding scheme.

- "tflm":   the tflite-micro package's Python interpreter (TFLite Micro kernels).
- "litert": ai-edge-litert's interpreter with the BUILTIN_REF op resolver (reference kernels).
"""

from __future__ import annotations

import numpy as np

PACKAGES = {"tflm": "tflite-micro", "litert": "ai-edge-litert"}  # pip names, for error messages


def _rows(x: np.ndarray, shape, dtype):
    for row in x:
        yield np.asarray(row, dtype=dtype).reshape(shape)


def run_tflm(tflite: bytes, x: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(tflite)
    inp = interp.get_input_details(0)
    out = []
    for row in _rows(x, inp["shape"], inp["dtype"]):
        interp.set_input(row, 0)
        interp.invoke()
        out.append(np.array(interp.get_output(0)).reshape(-1))
    return np.stack(out)


def run_litert(tflite: bytes, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert import interpreter as litert

    interp = litert.Interpreter(model_content=tflite,
                                experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out_index = interp.get_output_details()[0]["index"]
    out = []
    for row in _rows(x, inp["shape"], inp["dtype"]):
        interp.set_tensor(inp["index"], row)
        interp.invoke()
        out.append(np.array(interp.get_tensor(out_index)).reshape(-1))
    return np.stack(out)


def run(tflite: bytes, x: np.ndarray, rounding: str) -> np.ndarray:
    if rounding == "tflm":
        return run_tflm(tflite, x)
    if rounding == "litert":
        return run_litert(tflite, x)
    raise ValueError(f"unknown rounding {rounding!r}; use 'tflm' or 'litert'")
