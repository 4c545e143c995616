#!/usr/bin/python3
"""Golden outputs of the two preprocessing references, computed with Pillow 9.4.

Run with Debian's interpreter (python3-pil 9.4, numpy, torch 1.13):

    /usr/bin/python3 imaging/testdata/gen_golden.py            # inputs + goldens into imaging/testdata
    /usr/bin/python3 imaging/testdata/gen_golden.py --goldens-only --out DIR FILE...

The first form rebuilds the test inputs in testdata/in (small copies of and
derivations from the XrayGPT example X-rays in ../shared/data, plus
synthetic edge cases) and writes, for each input, Pillow's 224x224 uint8
outputs before normalisation to testdata/golden, with manifest.json. The
second form writes goldens for arbitrary files (used by the opt-in Go test
over ../shared/data).

What the references do (no torchvision/transformers here, so their steps are
written out with the same PIL, NumPy and torch calls):

- XrayGPT blip2_image_eval: Image.open(p).convert("RGB"), then torchvision
  Resize((224,224), BICUBIC) = img.resize((224,224), Image.BICUBIC), ToTensor
  (uint8 -> float32 .div(255)), Normalize (sub_(mean).div_(std)).
- MedCLIP MedCLIPFeatureExtractor: Image.open(p) (no convert), pad_img: paste
  into Image.new("L", (s,s), 0) with s = max(224, w, h) at
  (int((s-w)/2), int((s-h)/2)) (paste converts the image to L), resize to
  (224,224) BICUBIC, centre crop 224 (floor offsets), to_numpy_array:
  astype(float32) * (1/255.0), then (x - float32(mean)) / float32(std).

16-bit gray PNGs open as mode "I" and Pillow's convert("RGB"/"L") clips them
at 255 (everything above 255 becomes white). The Go package deliberately
scales instead, round(v*255/65535); for those inputs the goldens apply that
scaling with NumPy and then run the same Pillow steps, and the manifest
marks them "scaled16".
"""

import argparse
import json
import os
import shutil
import struct
import sys
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "data"))
SIZE = 224
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
MEDCLIP_MEAN = 0.5862785803043838
MEDCLIP_STD = 0.27950088968644304
NORM_STRIDE = 61  # normalised outputs are stored at every 61st element


# ---------------------------------------------------------------- inputs

def _chunk(tag, data):
    c = struct.pack(">I", len(data)) + tag + data
    return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def write_png(path, arr, color_type, depth, palette=None, trns=None):
    """A minimal PNG writer: Pillow cannot write 16-bit LA/RGB/RGBA or 4-bit gray."""
    arr = np.asarray(arr)
    h, w = arr.shape[:2]
    rows = []
    for y in range(h):
        if depth == 16:
            row = arr[y].astype(">u2").tobytes()
        elif depth == 8:
            row = arr[y].astype(np.uint8).tobytes()
        else:  # sub-byte gray or palette
            per = 8 // depth
            vals = list(arr[y].ravel()) + [0] * ((-len(arr[y].ravel())) % per)
            row = bytes(
                sum(int(vals[i + j]) << (8 - depth * (j + 1)) for j in range(per))
                for i in range(0, len(vals), per)
            )
        rows.append(b"\x00" + row)
    out = b"\x89PNG\r\n\x1a\n"
    out += _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0))
    if palette is not None:
        out += _chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).ravel()))
    if trns is not None:
        out += _chunk(b"tRNS", trns)
    out += _chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + _chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)


def make_inputs(ind):
    """Writes the test inputs; returns their file names in order."""
    os.makedirs(ind, exist_ok=True)
    rng = np.random.default_rng(20240601)
    names = []

    def add(name):
        names.append(name)
        return os.path.join(ind, name)

    ex = os.path.join(SHARED, "xraygpt", "example_test_images")
    # Real X-rays, byte-for-byte copies (XrayGPT demo examples, 256x256 gray).
    shutil.copyfile(os.path.join(ex, "img1.png"), add("xray_gray.png"))
    shutil.copyfile(os.path.join(ex, "img2.png"), add("xray_gray_b.png"))
    # A real colour JPEG (XrayGPT README screenshot, 960x540, 4:2:0).
    shutil.copyfile(os.path.join(SHARED, "xraygpt", "readme_images", "image1.jpg"), add("readme.jpg"))

    g1 = np.array(Image.open(os.path.join(ex, "img1.png")).convert("L"))
    g2 = np.array(Image.open(os.path.join(ex, "img2.png")).convert("L"))

    # Gray content stored as 8-bit RGB (like the IU X-ray PNGs).
    Image.fromarray(np.stack([g2] * 3, -1)).save(add("xray_rgb.png"))
    # 16-bit gray X-ray: full 16-bit range with sub-8-bit detail, non-square.
    v = g1[:, 8:248].astype(np.float64) * 257.0 + rng.normal(0, 90, (256, 240))
    write_png(add("xray16.png"), np.clip(np.rint(v), 0, 65535).astype(np.uint16), 0, 16)
    # JPEGs: gray, and colour-tinted X-rays with each chroma subsampling at odd sizes.
    Image.fromarray(g1).save(add("xray_gray.jpg"), quality=90)
    tint = np.stack([g2, (g2 * 0.9).astype(np.uint8), (g2 * 0.75 + 30).astype(np.uint8)], -1)
    Image.fromarray(tint[:243, :251]).save(add("xray_420.jpg"), quality=90, subsampling=2)
    Image.fromarray(tint[3:258, 2:251]).save(add("xray_422.jpg"), quality=90, subsampling=1)
    Image.fromarray(tint[:200, :230]).save(add("xray_444.jpg"), quality=90, subsampling=0)
    # Progressive and restart-interval JPEGs (the decoder's other code paths).
    Image.fromarray(g2).save(add("xray_prog.jpg"), quality=85, progressive=True)
    Image.fromarray(tint[:244, :250]).save(add("xray_prog420.jpg"), quality=80, progressive=True, subsampling=2)
    Image.fromarray(tint[5:, 3:]).save(add("xray_rst.jpg"), quality=90, subsampling=2, restart_marker_blocks=7)
    Image.fromarray(g1[:, :200]).save(add("xray_prog_rst.jpg"), quality=75, progressive=True, restart_marker_rows=1)
    # Tiny colour JPEGs: chroma upsampling at its edges.
    Image.fromarray(rng.integers(0, 256, (3, 2, 3), dtype=np.uint8)).save(add("tiny2x3.jpg"), quality=95, subsampling=2)
    Image.fromarray(rng.integers(0, 256, (1, 1, 3), dtype=np.uint8)).save(add("tiny1x1.jpg"), quality=95, subsampling=2)
    Image.fromarray(rng.integers(0, 256, (17, 3, 3), dtype=np.uint8)).save(add("tiny3x17.jpg"), quality=95, subsampling=1)

    # Synthetic edge cases.
    ramp = np.tile(np.rint(np.linspace(0, 65535, 320)), (200, 1))
    ramp[1::2] = ramp[1::2, ::-1]  # odd rows run the other way
    write_png(add("ramp16.png"), ramp.astype(np.uint16), 0, 16)
    Image.fromarray(np.array([[77]], np.uint8)).save(add("tiny1x1.png"))
    Image.fromarray(rng.integers(0, 256, (3, 2, 3), dtype=np.uint8)).save(add("tiny2x3.png"))
    yy, xx = np.mgrid[0:3, 0:1000]
    wide = np.stack([xx * 255 // 999, (yy * 100 + xx // 7) % 256, 255 - xx * 255 // 999], -1)
    wide = np.clip(wide + rng.integers(-20, 21, wide.shape), 0, 255).astype(np.uint8)
    Image.fromarray(wide).save(add("wide1000x3.png"))
    yy, xx = np.mgrid[0:1000, 0:3]
    tall = (128 + 100 * np.sin(yy / 23.0) + 20 * xx + rng.integers(-10, 11, yy.shape))
    Image.fromarray(np.clip(tall, 0, 255).astype(np.uint8)).save(add("tall3x1000.png"))
    yy, xx = np.mgrid[0:40, 0:50]
    up = np.stack([xx * 5, yy * 6, ((xx // 5 + yy // 5) % 2) * 200 + 20], -1)
    Image.fromarray(np.clip(up + rng.integers(0, 30, up.shape), 0, 255).astype(np.uint8)).save(add("up50x40.png"))

    # Every PNG colour type Pillow and Go read differently.
    yy, xx = np.mgrid[0:61, 0:97]
    gray = (xx * 2 + yy) % 256
    alpha = (xx * 255 // 96)
    write_png(add("la8.png"), np.stack([gray, alpha], -1), 4, 8)
    yy, xx = np.mgrid[0:120, 0:83]
    rgba = np.stack([xx * 3, yy * 2, (xx + yy) % 256, (yy * 255 // 119)], -1)
    write_png(add("rgba8.png"), rgba, 6, 8)
    pal = rng.integers(0, 256, (16, 3))
    yy, xx = np.mgrid[0:48, 0:64]
    write_png(add("pal.png"), ((xx // 4 + yy // 6) % 16), 3, 8, palette=pal, trns=bytes([0, 60, 255, 128]))
    write_png(add("gray4.png"), ((np.mgrid[0:17, 0:33][1] + np.mgrid[0:17, 0:33][0]) % 16), 0, 4)
    write_png(add("gray_trns.png"), gray, 0, 8, trns=b"\x00\x10")
    yy, xx = np.mgrid[0:30, 0:40]
    v16 = (xx * 1601 + yy * 97 + (xx * yy) % 256).astype(np.uint16)
    a16 = (65535 - yy * 2000).astype(np.uint16)
    write_png(add("la16.png"), np.stack([v16, a16], -1), 4, 16)
    write_png(add("rgb16.png"), np.stack([v16, v16[::-1], 65535 - v16], -1), 2, 16)
    write_png(add("rgba16.png"), np.stack([v16, 65535 - v16, v16[:, ::-1], a16], -1), 6, 16)

    # Unsupported: CMYK JPEG (no golden; the Go test expects ErrUnsupported).
    Image.new("CMYK", (16, 16), (10, 20, 30, 40)).save(os.path.join(ind, "cmyk.jpg"))
    return names


# ---------------------------------------------------------------- references

def open_for_reference(path):
    """Image.open, with 16-bit gray ("I") scaled to L instead of clipped."""
    im = Image.open(path)
    im.load()
    if im.mode in ("I", "I;16", "I;16B"):
        a = np.array(im).astype(np.int64)
        if a.min() < 0 or a.max() > 65535:
            raise SystemExit(f"{path}: values outside 0..65535")
        return Image.fromarray(((a * 255 + 32767) // 65535).astype(np.uint8), "L"), True
    return im, False


def blip2_u8(im):
    rgb = im.convert("RGB")
    return np.array(rgb.resize((SIZE, SIZE), Image.BICUBIC))


def pad_img(img, min_size=SIZE, fill_color=0):
    x, y = img.size
    size = max(min_size, x, y)
    new_im = Image.new("L", (size, size), fill_color)
    new_im.paste(img, (int((size - x) / 2), int((size - y) / 2)))
    return new_im


def medclip_u8(im):
    sq = pad_img(im)
    r = sq.resize((SIZE, SIZE), resample=Image.BICUBIC)
    w, h = r.size
    top, left = (h - SIZE) // 2, (w - SIZE) // 2
    return np.array(r.crop((left, top, left + SIZE, top + SIZE)))


def blip2_norm(u8):
    import torch

    t = torch.from_numpy(u8.copy()).permute(2, 0, 1).contiguous().to(dtype=torch.float32).div(255)
    mean = torch.as_tensor(CLIP_MEAN, dtype=torch.float32).view(-1, 1, 1)
    std = torch.as_tensor(CLIP_STD, dtype=torch.float32).view(-1, 1, 1)
    return t.sub_(mean).div_(std).numpy()


def medclip_norm(u8):
    x = u8.astype(np.float32) * (1 / 255.0)
    mean = np.array(MEDCLIP_MEAN).astype(x.dtype)
    std = np.array(MEDCLIP_STD).astype(x.dtype)
    return ((x - mean) / std)[None]


def save_u8(path, arr):
    if arr.ndim == 3 and (arr[..., 0] == arr[..., 1]).all() and (arr[..., 0] == arr[..., 2]).all():
        arr = arr[..., 0]  # stored as L when the three channels agree; the Go test expands it
    Image.fromarray(arr).save(path, optimize=True)


def write_goldens(paths, names, outd, norm_cases=()):
    os.makedirs(outd, exist_ok=True)
    cases = []
    for path, name in zip(paths, names):
        im, scaled = open_for_reference(path)
        raw = Image.open(path)
        case = {
            "name": name,
            "input": path,
            "pillow_mode": raw.mode,
            "size": list(raw.size),
            "scaled16": scaled,
            "blip2": name + ".blip2.png",
            "medclip": name + ".medclip.png",
        }
        b = blip2_u8(im)
        m = medclip_u8(im)
        save_u8(os.path.join(outd, case["blip2"]), b)
        save_u8(os.path.join(outd, case["medclip"]), m)
        if name in norm_cases:
            bn = blip2_norm(b).ravel()[::NORM_STRIDE].astype("<f4")
            mn = medclip_norm(m).ravel()[::NORM_STRIDE].astype("<f4")
            case["blip2_norm"] = name + ".blip2.norm.f32"
            case["medclip_norm"] = name + ".medclip.norm.f32"
            bn.tofile(os.path.join(outd, case["blip2_norm"]))
            mn.tofile(os.path.join(outd, case["medclip_norm"]))
        cases.append(case)
    manifest = {
        "pillow": Image.__version__,
        "size": SIZE,
        "norm_stride": NORM_STRIDE,
        "clip_mean": CLIP_MEAN,
        "clip_std": CLIP_STD,
        "medclip_mean": MEDCLIP_MEAN,
        "medclip_std": MEDCLIP_STD,
        "cases": cases,
    }
    with open(os.path.join(outd, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--goldens-only", action="store_true", help="goldens for FILEs only")
    ap.add_argument("--out", default=os.path.join(HERE, "golden"))
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    if Image.__version__.split(".")[0] != "9":
        print(f"warning: Pillow {Image.__version__}, the reference is 9.4", file=sys.stderr)
    if args.goldens_only:
        names = [f"f{i:02d}_" + os.path.basename(p) for i, p in enumerate(args.files)]
        write_goldens(args.files, names, args.out)
        return
    ind = os.path.join(HERE, "in")
    names = make_inputs(ind)
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    paths = [os.path.join(ind, n) for n in names]
    write_goldens(paths, names, args.out, norm_cases=("xray_gray.png", "up50x40.png"))
    # Paths in the committed manifest are relative to testdata/.
    mp = os.path.join(args.out, "manifest.json")
    with open(mp) as f:
        man = json.load(f)
    for c in man["cases"]:
        c["input"] = os.path.relpath(c["input"], HERE)
    with open(mp, "w") as f:
        json.dump(man, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
