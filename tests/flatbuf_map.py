"""A map of a .tflite flatbuffer: where each table, vector, string and buffer's data lies, and
where every offset field is, so a fuzz can cut at each section's edge, point an offset out of
range and swap entries of a vector of tables. Written from the flatbuffers wire format (a table
starts with an int32 back to its vtable; the vtable holds uint16 sizes and field offsets; a
uoffset is a uint32 relative to its own position) and TFLite's schema field numbers."""

import struct
from dataclasses import dataclass, field

# Field kinds by table type, in schema order (field n has vtable slot 4 + 2 * n):
# ("table", TYPE), ("tables", TYPE) a vector of tables, ("vector", element size), "string",
# or None for an inline scalar (not followed).
_SCHEMA = {
    "Model": [None, ("tables", "OperatorCode"), ("tables", "SubGraph"), "string",
              ("tables", "Buffer"), ("vector", 4), ("tables", "Metadata"), ("tables", "SignatureDef")],
    "OperatorCode": [None, "string", None, None],
    "SubGraph": [("tables", "Tensor"), ("vector", 4), ("vector", 4), ("tables", "Operator"), "string"],
    "Tensor": [("vector", 4), None, None, "string", ("table", "Quantization"), None, None,
               ("vector", 4)],
    "Quantization": [("vector", 4), ("vector", 4), ("vector", 4), ("vector", 8)],
    "Operator": [None, ("vector", 4), ("vector", 4), None, ("table", "Options"), ("vector", 1),
                 None, ("vector", 1), ("vector", 4)],
    "Options": [],
    "Buffer": [("vector", 1)],
    "Metadata": ["string", None],
    "SignatureDef": [("tables", "TensorMap"), ("tables", "TensorMap"), "string", None, None],
    "TensorMap": ["string", None],
}


@dataclass
class FlatbufferMap:
    sections: list = field(default_factory=list)  # (name, start, end)
    offsets: list = field(default_factory=list)  # (position of a uoffset, position it points at)
    table_vectors: list = field(default_factory=list)  # (name, [entry positions]) of each vector of tables

    def boundaries(self, size):
        """Every position where a section starts or ends, inside the file."""
        return sorted({p for _, a, b in self.sections for p in (a, b) if 0 < p < size})


def tflite_map(blob: bytes) -> FlatbufferMap:
    m = FlatbufferMap()
    seen = set()

    def u32(p):
        return struct.unpack_from("<I", blob, p)[0]

    def target(p):
        m.offsets.append((p, p + u32(p)))
        return p + u32(p)

    def table(pos, kind, name):
        if (pos, kind) in seen:
            return
        seen.add((pos, kind))
        vt = pos - struct.unpack_from("<i", blob, pos)[0]
        vt_size, obj_size = struct.unpack_from("<HH", blob, vt)
        m.sections.append((f"{name} vtable", vt, vt + vt_size))
        m.sections.append((name, pos, pos + obj_size))
        for n, spec in enumerate(_SCHEMA[kind]):
            slot = 4 + 2 * n
            if spec is None or slot >= vt_size:
                continue
            voff = struct.unpack_from("<H", blob, vt + slot)[0]
            if not voff:
                continue
            where = target(pos + voff)
            label = f"{name}.{n}"
            if spec == "string":
                m.sections.append((label, where, where + 4 + u32(where) + 1))
            elif spec[0] == "table":
                table(where, spec[1], label)
            elif spec[0] == "vector":
                m.sections.append((label, where, where + 4 + u32(where) * spec[1]))
            else:  # a vector of tables
                count = u32(where)
                m.sections.append((label, where, where + 4 + 4 * count))
                entries = [where + 4 + 4 * k for k in range(count)]
                m.table_vectors.append((label, entries))
                for k, e in enumerate(entries):
                    table(target(e), spec[1], f"{label}[{k}]")

    m.sections.append(("header", 0, 8))  # root offset and file identifier
    table(target(0), "Model", "model")
    return m
