"""FP32 ONNX → INT8 ONNX by ONNX Runtime static quantization (QDQ), calibrated on photos.

What is quantized decides both accuracy and speed (see ../shared/FIELD-NOTES.md):
- quantizing *everything* gives mAP 0: the detection head concatenates box coordinates
  (hundreds of pixels) and class scores (0..1) into one tensor, and one INT8 scale
  cannot hold both. So the head's non-Conv nodes (``/model.23/...`` in YOLO11n) stay FP32;
  its Convs are quantized.
- quantizing only Conv gives no speed-up: the Q/DQ pairs around every Conv+SiLU cost
  what the INT8 Conv saves. Quantizing the element-wise ops between them (Mul, Sigmoid,
  Add, Concat, MaxPool, Resize, Split) keeps the tensors in INT8 across whole blocks.
- activations U8, weights S8 per channel: S8 activations ran 2x slower here.
- weights in 7 bits (``reduce_range``): CPUs without VNNI (AVX2, AVX-512 before Cascade
  Lake; this machine's AMD EPYC has AVX2 only) multiply U8xS8 pairs with ``vpmaddubsw``,
  whose 16-bit intermediate sums saturate. Measured on the v1 model, 24 val photos:
  FP32 mAP50 0.932; INT8 8-bit weights 0.867 (Conv only: 0.857); 7-bit weights 0.929.
  On VNNI CPUs the 7th bit is lost for nothing, which costs almost no accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from shared.imaging import decode, letterbox

OP_TYPES = ["Conv", "Mul", "Sigmoid", "Add", "Concat", "MaxPool", "Resize", "Split"]


class PhotoReader(CalibrationDataReader):
    """Feeds letterboxed calibration photos exactly as the detector preprocesses them."""

    def __init__(self, input_name: str, photos: list[Path], size: int):
        self.input_name, self.size = input_name, size
        self._it = iter(photos)

    def get_next(self):
        path = next(self._it, None)
        if path is None:
            return None
        img, *_ = letterbox(decode(Path(path).read_bytes(), target_size=self.size).image, self.size)
        x = img[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        return {self.input_name: np.ascontiguousarray(x)}


def head_nodes_to_keep_fp32(model: onnx.ModelProto, head_prefix: str) -> list[str]:
    """The detection head's non-Conv nodes (decode, concat, sigmoid) and its DFL, which
    works on probabilities and costs nothing in FP32."""
    return [n.name for n in model.graph.node if n.name.startswith(head_prefix)
            and (n.op_type != "Conv" or "/dfl/" in n.name)]


def detect_head_prefix(model: onnx.ModelProto) -> str:
    """The last top-level module (``/model.<N>/``) is the Detect head."""
    ids = [int(n.name.split("/")[1].split(".")[1]) for n in model.graph.node if n.name.startswith("/model.")]
    return f"/model.{max(ids)}/"


def quantize(fp32_path: Path, int8_path: Path, calibration: list[Path], size: int,
             method: str = "MinMax", keep_head_convs_fp32: bool = False, reduce_range: bool = True,
             op_types: list[str] | None = None) -> dict:
    fp32_path, int8_path = Path(fp32_path), Path(int8_path)
    prep = int8_path.with_suffix(".prep.onnx")
    quant_pre_process(str(fp32_path), str(prep), skip_symbolic_shape=True)
    model = onnx.load(str(prep))
    prefix = detect_head_prefix(model)
    exclude = head_nodes_to_keep_fp32(model, prefix)
    if keep_head_convs_fp32:
        exclude += [n.name for n in model.graph.node if n.name.startswith(prefix) and n.name not in exclude]
    reader = PhotoReader(model.graph.input[0].name, calibration, size)
    quantize_static(
        str(prep), str(int8_path), reader,
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=op_types or OP_TYPES,
        reduce_range=reduce_range,
        nodes_to_exclude=exclude,
        calibrate_method=getattr(CalibrationMethod, method),
        extra_options={"CalibPercentile": 99.99} if method == "Percentile" else {},
    )
    prep.unlink(missing_ok=True)
    return {"method": f"onnxruntime static QDQ, {method} calibration", "activations": "uint8",
            "weights": "int8 per-channel" + (", 7-bit range (no VNNI saturation)" if reduce_range else ""),
            "op_types": op_types or OP_TYPES,
            "kept_fp32": f"{prefix}*" if keep_head_convs_fp32 else f"{prefix}* except its Convs (DFL stays FP32)",
            "calibration_photos": len(calibration)}
