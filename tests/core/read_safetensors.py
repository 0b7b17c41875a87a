#!/usr/bin/env python3
"""An independent safetensors reader and writer (json, struct and numpy only) for the
interoperability check with tests/core/st_write_sample.c, which holds the same sample definition.

  read_safetensors.py FILE           validates FILE (written by mc_safetensors_save) and its values
  read_safetensors.py --write FILE   writes the sample the way other tools lay files out: keys
                                     sorted, data in another order, header padded to 8 bytes only

Sample: element i of tensor k has v = k*1000 + i, stored as F32/F64 v, F16 v % 2048, BF16 the top
16 bits of float32 v, I8/U8 v wrapped, I16 v, I32 v*100003 - 10^9, I64 -(v * 2^32 + 7),
BOOL (v % 3 == 0). Exits 0 when all is well, 1 with a message on stderr otherwise.
"""
import json
import struct
import sys

import numpy as np

SAMPLE = [  # (name, dtype, shape), k is the position in this list
    ("f32", "F32", [2, 3]),
    ("f64", "F64", [4]),
    ("f16", "F16", [2, 2]),
    ("bf16", "BF16", [3, 1, 2]),
    ("i8", "I8", [5]),
    ("u8", "U8", [7]),
    ("i16", "I16", [3]),
    ("i32", "I32", [2, 2]),
    ("i64", "I64", []),
    ("bool", "BOOL", [6]),
    ("empty", "F32", [0, 4]),
]
META = {"arch": '{"type":"mlp"}', "seed": "42", "note": "d\u00e9j\u00e0 vu \u2713"}
ITEMSIZE = {"F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I8": 1, "U8": 1, "I16": 2, "I32": 4, "I64": 8, "BOOL": 1}


def expected_bytes(k, dtype, shape):
    """The little-endian bytes of tensor k of the sample."""
    v = k * 1000 + np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
    if dtype == "F32":
        a = v.astype("<f4")
    elif dtype == "F64":
        a = v.astype("<f8")
    elif dtype == "F16":
        a = (v % 2048).astype("<f2")
    elif dtype == "BF16":
        a = (v.astype("<f4").view("<u4") >> 16).astype("<u2")
    elif dtype == "I8":
        a = v.astype("<i1")
    elif dtype == "U8":
        a = v.astype("<u1")
    elif dtype == "I16":
        a = v.astype("<i2")
    elif dtype == "I32":
        a = (v * 100003 - 1000000000).astype("<i4")
    elif dtype == "I64":
        a = (-(v * 4294967296 + 7)).astype("<i8")
    else:
        a = (v % 3 == 0).astype("<u1")
    return a.tobytes()


def fail(msg):
    sys.stderr.write("read_safetensors: %s\n" % msg)
    sys.exit(1)


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        fail("duplicate key in the header")
    return dict(pairs)


def read(path):
    with open(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 8:
        fail("%s: %d bytes, shorter than the header length" % (path, len(raw)))
    (n,) = struct.unpack("<Q", raw[:8])
    if n == 0 or 8 + n > len(raw):
        fail("%s: header length %d does not fit the %d-byte file" % (path, n, len(raw)))
    if (8 + n) % 64:
        fail("%s: data buffer starts at %d, not a multiple of 64" % (path, 8 + n))
    text = raw[8 : 8 + n].decode("utf-8")
    if not text.startswith("{") or text.rstrip(" ") != text.rstrip():
        fail("%s: header must start with '{' and be padded with spaces only" % path)
    header = json.loads(text, object_pairs_hook=no_duplicates)
    data = raw[8 + n :]

    meta = header.pop("__metadata__", None)
    if meta != META:
        fail("%s: __metadata__ is %r, expected %r" % (path, meta, META))
    if sorted(header) != sorted(name for name, _, _ in SAMPLE):
        fail("%s: tensors %s, expected %s" % (path, sorted(header), [s[0] for s in SAMPLE]))
    pos = 0
    for k, (name, dtype, shape) in enumerate(SAMPLE):
        entry = header[name]
        if sorted(entry) != ["data_offsets", "dtype", "shape"]:
            fail("%s: tensor %s has keys %s" % (path, name, sorted(entry)))
        if entry["dtype"] != dtype or entry["shape"] != shape:
            fail("%s: tensor %s is %s %s, expected %s %s" % (path, name, entry["dtype"], entry["shape"], dtype, shape))
        begin, end = entry["data_offsets"]
        if begin != pos:
            fail("%s: tensor %s begins at %d, expected %d (saved in order, no holes)" % (path, name, begin, pos))
        want = expected_bytes(k, dtype, shape)
        if end - begin != len(want) or len(want) != int(np.prod(shape, dtype=np.int64)) * ITEMSIZE[dtype]:
            fail("%s: tensor %s holds %d bytes, expected %d" % (path, name, end - begin, len(want)))
        got = data[begin:end]
        if got != want:
            fail("%s: tensor %s values differ: %s vs %s" % (path, name, got.hex(), want.hex()))
        pos = end
    if pos != len(data):
        fail("%s: %d bytes after the last tensor" % (path, len(data) - pos))
    print("%s: %d tensors and %d metadata entries match" % (path, len(SAMPLE), len(META)))


def write(path):
    blobs = [expected_bytes(k, dtype, shape) for k, (_, dtype, shape) in enumerate(SAMPLE)]
    header, pos = {}, 0
    for k in reversed(range(len(SAMPLE))):
        name, dtype, shape = SAMPLE[k]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [pos, pos + len(blobs[k])]}
        pos += len(blobs[k])
    ordered = {name: header[name] for name in sorted(header)}
    ordered["__metadata__"] = META
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)))
        fh.write(text)
        for blob in reversed(blobs):
            fh.write(blob)


def main(argv):
    if len(argv) == 2:
        read(argv[1])
    elif len(argv) == 3 and argv[1] == "--write":
        write(argv[2])
    else:
        sys.stderr.write("usage: read_safetensors.py [--write] FILE\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
