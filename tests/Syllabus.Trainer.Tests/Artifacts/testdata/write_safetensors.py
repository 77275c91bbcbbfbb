#!/usr/bin/env python3
"""Writes mixed-dtype.safetensors byte for byte as the safetensors format specifies
(https://github.com/huggingface/safetensors#format), with the Python standard library only.

This is NOT the `safetensors` library: it could not be installed where this file was made (PyPI unreachable,
no python3-safetensors in Debian 12, no numpy or torch installed). It follows what the library writes:
an 8-byte little-endian header length; a compact JSON header with __metadata__ first and the tensors in data
order (sorted by dtype, largest first, then by name), padded with spaces to a multiple of 8 bytes; then the
little-endian data with no holes. Regenerate: python3 write_safetensors.py
"""
import json
import struct

def f64(values): return b"".join(struct.pack("<d", v) for v in values)
def f32(values): return b"".join(struct.pack("<f", v) for v in values)
def f16(values): return b"".join(struct.pack("<e", v) for v in values)
def bf16(values):
    # bfloat16 is the upper half of a float32; these values are exact in bfloat16, so no rounding is needed.
    out = b""
    for v in values:
        bits = struct.unpack("<I", struct.pack("<f", v))[0]
        assert bits & 0xFFFF == 0, v
        out += struct.pack("<H", bits >> 16)
    return out

# name: (dtype, shape, bytes); the values are what the C# test expects back as float32.
tensors = {
    "f64": ("F64", [2, 3], f64([0.1, -1.5, 1e-3, 3.0, 123456.789, 2.5])),
    "f32": ("F32", [3], f32([1.0, -2.25, 3.5e-5])),
    "f16": ("F16", [2, 2], f16([0.5, -1.0, 65504.0, 2.0 ** -14])),
    "bf16": ("BF16", [4], bf16([1.0, -2.0, 0.15625, 1.5])),
    "empty": ("F32", [0], b""),
    "scalar": ("F32", [], f32([7.0])),
}
rank = {"F16": 7, "BF16": 8, "F32": 11, "F64": 12}  # the library's Dtype enum order
order = sorted(tensors, key=lambda n: (-rank[tensors[n][0]], n))

header = {"__metadata__": {"format": "pt", "writer": "write_safetensors.py (spec, not the library)"}}
data = b""
for name in order:
    dtype, shape, raw = tensors[name]
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw

text = json.dumps(header, separators=(",", ":")).encode("utf-8")
text += b" " * (-len(text) % 8)
with open("mixed-dtype.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
