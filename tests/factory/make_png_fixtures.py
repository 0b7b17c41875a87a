#!/usr/bin/python3
"""make_png_fixtures.py: writes the PNG corpus of tests/factory/test_png.c into tests/factory/png/.

Every colour type and bit depth (1/2/4/8/16-bit grey, grey + alpha, palette with and without tRNS,
RGB, RGBA, 16-bit, tRNS colours, Adam7 interlacing), some written by PIL (with its adaptive row
filters) and some by the small encoder below (the variants PIL cannot write). For each image
NAME.png the expected pixels go to NAME.txt: "w h c maxval" then the samples row-major, taken from
PIL's own decoding wherever PIL represents the image exactly (and checked against the source), from
the source array otherwise. resize.txt holds an area-averaging reference. Corrupt files go to
bad_*.png. Run with Debian's Python: /usr/bin/python3 tests/factory/make_png_fixtures.py
"""
import os
import struct
import zlib

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "png")
W, H = 13, 7
rng = np.random.default_rng(2026)

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def pack_row(samples, depth):
    """One scanline of integer samples at depth bits (big-endian 16-bit, MSB-first packing below 8)."""
    if depth == 16:
        return b"".join(struct.pack(">H", int(v)) for v in samples)
    if depth == 8:
        return bytes(int(v) for v in samples)
    per = 8 // depth
    out = bytearray()
    for i in range(0, len(samples), per):
        byte = 0
        for j in range(per):
            v = int(samples[i + j]) if i + j < len(samples) else 0
            byte |= v << (8 - depth * (j + 1))
        out.append(byte)
    return bytes(out)


def encode(samples, depth, ctype, interlace=False, plte=None, trns=None, extra=b""):
    """samples (h, w, channels) of integers; returns the PNG bytes with filter 0 rows."""
    h, w = samples.shape[:2]
    flat = samples.reshape(h, w, -1)
    raw = bytearray()
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for xs, ys, dx, dy in passes:
        sub = flat[ys::dy, xs::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        for row in sub:
            raw += b"\x00" + pack_row(row.reshape(-1), depth)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 1 if interlace else 0))
    png += extra
    if plte is not None:
        png += chunk(b"PLTE", bytes(int(v) for v in plte.reshape(-1)))
    if trns is not None:
        png += chunk(b"tRNS", trns)
    png += chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b"")
    return png


def write_expected(name, arr, maxval):
    arr = arr.reshape(arr.shape[0], arr.shape[1], -1)
    h, w, c = arr.shape
    with open(os.path.join(OUT, name + ".txt"), "w") as f:
        f.write(f"{w} {h} {c} {maxval}\n")
        f.write(" ".join(str(int(v)) for v in arr.reshape(-1)) + "\n")


def save(name, data):
    with open(os.path.join(OUT, name + ".png"), "wb") as f:
        f.write(data)


def pil_pixels(name):
    """PIL's decoding of NAME.png as integer samples with their maxval, or None where PIL cannot
    represent the file exactly (16-bit colour or 16-bit grey + alpha)."""
    im = Image.open(os.path.join(OUT, name + ".png"))
    im.load()
    if im.mode == "1":
        return np.array(im, dtype=np.int64), 1
    if im.mode == "P":
        conv = im.convert("RGBA" if "transparency" in im.info else "RGB")
        return np.array(conv, dtype=np.int64), 255
    if im.mode in ("I;16", "I;16B", "I"):
        return np.array(im, dtype=np.int64), 65535
    if im.mode == "L" and "transparency" in im.info:
        a = np.array(im, dtype=np.int64)
        return np.stack([a, np.where(a == im.info["transparency"], 0, 255)], -1), 255
    if im.mode == "RGB" and "transparency" in im.info:
        a = np.array(im, dtype=np.int64)
        t = np.array(im.info["transparency"])
        return np.concatenate([a, np.where((a == t).all(-1, keepdims=True), 0, 255)], -1), 255
    return np.array(im, dtype=np.int64), 255


def fixture(name, src, maxval, pil_scale=None):
    """Writes the expected samples of NAME: PIL's when PIL decodes it exactly (asserted equal to
    src, scaled by pil_scale for 2/4-bit grey that PIL widens to 8 bits), src otherwise."""
    got, pmax = pil_pixels(name)
    src3 = src.reshape(src.shape[0], src.shape[1], -1)
    if pmax == maxval or pil_scale:
        g = got.reshape(src3.shape)
        want = src3 * (pil_scale or 1)
        assert (g == want).all(), name
        if pil_scale:
            write_expected(name, g, 255)
            return
        write_expected(name, g, maxval)
    else:
        write_expected(name, src3, maxval)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    g8 = rng.integers(0, 256, (H, W))
    g16 = rng.integers(0, 65536, (H, W))
    rgb8 = rng.integers(0, 256, (H, W, 3))
    rgba8 = rng.integers(0, 256, (H, W, 4))
    # PIL-written: adaptive filters
    Image.fromarray(g8.astype(np.uint8), "L").save(os.path.join(OUT, "grey8_pil.png"))
    fixture("grey8_pil", g8, 255)
    Image.fromarray(rgb8.astype(np.uint8), "RGB").save(os.path.join(OUT, "rgb8_pil.png"), optimize=True)
    fixture("rgb8_pil", rgb8, 255)
    Image.fromarray(rgba8.astype(np.uint8), "RGBA").save(os.path.join(OUT, "rgba8_pil.png"))
    fixture("rgba8_pil", rgba8, 255)
    Image.fromarray(g16.astype(np.uint16), "I;16").save(os.path.join(OUT, "grey16_pil.png"))
    fixture("grey16_pil", g16, 65535)
    bits = rng.integers(0, 2, (H, W))
    Image.fromarray((bits * 255).astype(np.uint8), "L").convert("1").save(os.path.join(OUT, "grey1_pil.png"))
    fixture("grey1_pil", bits, 1)
    pal = rng.integers(0, 256, (16, 3))
    idx = rng.integers(0, 16, (H, W))
    p = Image.fromarray(idx.astype(np.uint8), "P")
    p.putpalette([int(v) for v in pal.reshape(-1)])
    alpha = rng.integers(0, 256, 16)
    p.save(os.path.join(OUT, "palette_trns_pil.png"), transparency=bytes(int(a) for a in alpha))
    fixture("palette_trns_pil", np.concatenate([pal[idx], alpha[idx][..., None]], -1), 255)
    # the small encoder: every depth and colour type, plain and interlaced
    for depth in (1, 2, 4, 8, 16):
        v = rng.integers(0, 1 << depth, (H, W))
        for il in (False, True):
            name = f"grey{depth}" + ("_adam7" if il else "")
            save(name, encode(v, depth, 0, il))
            fixture(name, v, (1 << depth) - 1, pil_scale=255 // ((1 << depth) - 1) if depth in (2, 4) else None)
    for depth in (8, 16):
        ga = rng.integers(0, 1 << depth, (H, W, 2))
        save(f"greyalpha{depth}", encode(ga, depth, 4))
        fixture(f"greyalpha{depth}", ga, (1 << depth) - 1)
        rgb = rng.integers(0, 1 << depth, (H, W, 3))
        for il in (False, True):
            name = f"rgb{depth}" + ("_adam7" if il else "")
            save(name, encode(rgb, depth, 2, il))
            fixture(name, rgb, (1 << depth) - 1)
        rgba = rng.integers(0, 1 << depth, (H, W, 4))
        save(f"rgba{depth}", encode(rgba, depth, 6))
        fixture(f"rgba{depth}", rgba, (1 << depth) - 1)
    # tRNS colour on grey and RGB: that colour becomes transparent, the rest opaque
    gt = rng.integers(0, 4, (H, W)) * 60
    save("grey8_trns", encode(gt, 8, 0, trns=struct.pack(">H", 120)))
    fixture("grey8_trns", np.stack([gt, np.where(gt == 120, 0, 255)], -1), 255)
    rt = rng.integers(0, 2, (H, W, 3)) * 40000
    key = (40000, 0, 40000)
    save("rgb16_trns", encode(rt, 16, 2, trns=struct.pack(">HHH", *key)))
    opaque = np.where((rt == np.array(key)).all(-1), 0, 65535)
    fixture("rgb16_trns", np.concatenate([rt, opaque[..., None]], -1), 65535)
    # palettes of every depth, with a partial tRNS (entries past it stay opaque), interlaced too
    for depth in (1, 2, 4, 8):
        n = 1 << depth
        pal = rng.integers(0, 256, (n, 3))
        idx = rng.integers(0, n, (H, W))
        name = f"palette{depth}"
        save(name, encode(idx, depth, 3, plte=pal))
        fixture(name, pal[idx], 255)
        ta = rng.integers(0, 256, max(1, n // 2))
        full = np.concatenate([ta, np.full(n - len(ta), 255)])
        name = f"palette{depth}_trns_adam7"
        save(name, encode(idx, depth, 3, True, plte=pal, trns=bytes(int(a) for a in ta)))
        fixture(name, np.concatenate([pal[idx], full[idx][..., None]], -1), 255)
    # an ancillary chunk with a bad CRC is skipped: the image still decodes
    text = chunk(b"tEXt", b"Comment\x00hello")
    text = text[:-1] + bytes([text[-1] ^ 0xFF])
    save("ancillary_bad_crc", encode(g8, 8, 0, extra=text))
    write_expected("ancillary_bad_crc", g8, 255)

    # area averaging: 13 x 7 grey to 5 x 3, each output the covered-fraction-weighted mean
    src = g8.astype(np.float64) / 255.0
    def weights(n_in, n_out):
        m = np.zeros((n_out, n_in))
        s = n_in / n_out
        for o in range(n_out):
            lo, hi = o * s, (o + 1) * s
            for i in range(n_in):
                m[o, i] = max(0.0, min(hi, i + 1) - max(lo, i)) / s
        return m
    ref = weights(H, 3) @ src @ weights(W, 5).T
    with open(os.path.join(OUT, "resize.txt"), "w") as f:
        f.write("grey8_pil 5 3\n" + " ".join(f"{v:.9f}" for v in ref.reshape(-1)) + "\n")

    # corrupt and hostile files
    good = encode(g8, 8, 0)
    flipped = bytearray(good)
    at = good.index(b"IDAT")
    flipped[at + 6] ^= 0x55
    save("bad_idat_data", bytes(flipped))
    crc = bytearray(good)
    crc[at + 4 + struct.unpack(">I", good[at - 4:at])[0]] ^= 0x01
    save("bad_crc", bytes(crc))
    save("bad_truncated", encode(rgb8, 8, 2)[:90])
    hdr = b"\x89PNG\r\n\x1a\n"
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 14 * 7)) + chunk(b"IEND", b"")
    save("bad_depth", hdr + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 3, 0, 0, 0, 0)) + idat)
    save("bad_zero_width", hdr + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, H, 8, 0, 0, 0, 0)) + idat)
    save("bad_huge", hdr + chunk(b"IHDR", struct.pack(">IIBBBBB", 0x7FFFFFFF, 0x7FFFFFFF, 8, 0, 0, 0, 0)) + idat)
    # a decompression bomb: 30000 x 30000 declared, a few hundred bytes of zeros compressed
    save("bad_bomb", hdr + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0))
         + chunk(b"IDAT", zlib.compress(b"\x00" * 30001 * 64, 9)) + chunk(b"IEND", b""))
    save("bad_zlib", hdr + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 0, 0, 0, 0))
         + chunk(b"IDAT", bytes(rng.integers(0, 256, 64).astype(np.uint8))) + chunk(b"IEND", b""))
    save("bad_no_idat", hdr + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 0, 0, 0, 0)) + chunk(b"IEND", b""))
    save("bad_signature_only", hdr)
    save("bad_empty", b"")
    save("bad_text", b"this is not an image\n")


if __name__ == "__main__":
    main()
