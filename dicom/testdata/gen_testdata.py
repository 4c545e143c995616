#!/usr/bin/python3
"""Writes the synthetic DICOM test files and golden.json for package dicom.

Independent reference: pydicom 2.3 (Debian python3-pydicom) writes every synthetic file and
reads every file back; its apply_modality_lut and apply_windowing (PS3.3 C.11.2) give the
VOI-windowed values, numpy the percentile/min-max windows, and Pillow (via pydicom's pillow
handler) the JPEG frames. Stored values are masked to Bits Stored below High Bit here, by
hand, because pydicom 2.3 does not mask. dcmdump (Debian dcmtk) checks each file parses, and
dcm2pnm renders cr_small.dcm (VOI window) and deflated_u16.dcm (min-max) as a second reference.

Regenerate (from the repository root):

    /usr/bin/python3 dicom/testdata/gen_testdata.py [path/to/cr_lidc_chest_monochrome1_explicit_le.dcm]

The CR path defaults to ../shared/data/dicom/ next to the repository; with it the script also
writes cr_small.dcm (the CR film decimated 8x, attributes kept) and the golden values of the
full-size shared files, which the Go tests check only when ../shared is present.
"""

import io
import json
import os
import shutil
import subprocess
import sys
import zlib

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_windowing, convert_color_space
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data", "dicom")
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
CR_STORAGE = "1.2.840.10008.5.1.4.1.1.1"

rng = np.random.default_rng(20261129)


def new_dataset(name, ts, rows, cols, photometric="MONOCHROME2", spp=1, bits=16, stored=None,
                high=None, signed=False, frames=None, preamble=True, meta=True):
    meta_ds = FileMetaDataset()
    meta_ds.MediaStorageSOPClassUID = SECONDARY_CAPTURE
    meta_ds.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498." + str(zlib.crc32(name.encode()))
    meta_ds.TransferSyntaxUID = ts
    meta_ds.ImplementationClassUID = "1.2.826.0.1.3680043.8.498.1"
    ds = FileDataset(name, {}, file_meta=meta_ds if meta else FileMetaDataset(),
                     preamble=b"\0" * 128 if preamble else None)
    ds.is_little_endian = ts != ExplicitVRBigEndian
    ds.is_implicit_VR = ts == ImplicitVRLittleEndian
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = meta_ds.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.SamplesPerPixel = spp
    ds.PhotometricInterpretation = photometric
    if frames is not None:
        ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = rows, cols
    ds.PixelSpacing = [0.5, 0.25]
    ds.BitsAllocated = bits
    ds.BitsStored = stored or bits
    ds.HighBit = high if high is not None else ds.BitsStored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if spp == 3:
        ds.PlanarConfiguration = 0
    return ds


def nested_sequence(depth):
    """An undefined-length sequence with undefined-length items, nested depth deep."""
    item = Dataset()
    item.ReferencedSOPClassUID = SECONDARY_CAPTURE
    item.ReferencedSOPInstanceUID = "1.2.3.4"
    item.is_undefined_length_sequence_item = True
    if depth > 1:
        item.ReferencedImageSequence = nested_sequence(depth - 1)
    seq = Sequence([item, Dataset()])
    seq[1].PatientID = "x"
    seq[1].is_undefined_length_sequence_item = True
    return seq


def save(ds, name, pixel_bytes, undefined_seq=True):
    if undefined_seq:
        ds.ReferencedImageSequence = nested_sequence(3)
        ds["ReferencedImageSequence"].is_undefined_length = True
    ds.PixelData = pixel_bytes
    if ds.is_implicit_VR:
        ds["PixelData"].VR = "OW"
    elif ds.BitsAllocated == 8 and "PixelData" in ds:
        ds["PixelData"].VR = "OB"
    path = os.path.join(HERE, name)
    ds.save_as(path, write_like_original=not ds.preamble)
    subprocess.run(["dcmdump", "-q", path], check=True, stdout=subprocess.DEVNULL)
    return path


def stored_values(ds, raw):
    """Masks and sign-extends raw samples the way PS3.5 8.1.1 lays them out."""
    bs, hb = int(ds.BitsStored), int(ds.HighBit)
    v = (raw.astype(np.int64) & ((1 << int(ds.BitsAllocated)) - 1)) >> (hb + 1 - bs)
    v &= (1 << bs) - 1
    if ds.PixelRepresentation == 1:
        v = np.where(v >= (1 << (bs - 1)), v - (1 << bs), v)
    return v


def expected_gray(ds, stored, window, bits=None):
    """The reference grey output: (kind, values, applied, low, high)."""
    bits = bits or int(ds.BitsStored)
    signed = ds.PixelRepresentation == 1
    slope = float(ds.get("RescaleSlope", 1))
    icept = float(ds.get("RescaleIntercept", 0))
    has_voi = "WindowCenter" in ds and "WindowWidth" in ds
    if window == "auto":
        if has_voi:
            window = "voi"
        elif bits <= 8 and not signed and slope == 1 and icept == 0:
            window = "none"
        else:
            window = "percentile"
    mono1 = ds.PhotometricInterpretation == "MONOCHROME1"
    if window == "none":
        y = np.round(stored * 255.0 / (2**bits - 1)).astype(np.int64)
        return "gray", (255 - y) if mono1 else y, window, 0.0, 0.0
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        x = apply_modality_lut(stored, ds).astype(np.float64)
    else:
        x = stored.astype(np.float64)
    low = high = None
    if window == "voi":
        y = apply_windowing(x, ds)  # pydicom: output spans [y_min, y_max] below
        if signed:
            y_min, y_max = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        else:
            y_min, y_max = 0, 2**bits - 1
        if "RescaleSlope" in ds and "RescaleIntercept" in ds:
            y_min, y_max = y_min * slope + icept, y_max * slope + icept
        frac = (y - y_min) / (y_max - y_min)
        c = ds.WindowCenter[0] if ds["WindowCenter"].VM > 1 else ds.WindowCenter
        w = ds.WindowWidth[0] if ds["WindowWidth"].VM > 1 else ds.WindowWidth
        fn = str(ds.get("VOILUTFunction", "LINEAR")).upper()
        if fn == "LINEAR":
            low, high = c - 0.5 - (w - 1) / 2, c - 0.5 + (w - 1) / 2
        else:
            low, high = c - w / 2, c + w / 2
    else:
        if window == "percentile":
            low = np.percentile(x, 0.5, method="lower")
            high = np.percentile(x, 99.5, method="higher")
        else:
            low, high = x.min(), x.max()
        frac = (x - low) / (high - low) if high > low else np.zeros_like(x)
    y = np.round(np.clip(frac, 0, 1) * 65535).astype(np.int64)
    return "gray16", (65535 - y) if mono1 else y, window, float(low), float(high)


cases = []


def add_case(file, window="auto", stride=1, shared=False, tolerance=1, ds=None, stored=None,
             kind=None, values=None, applied=None, low=0.0, high=0.0, frames=1, warnings=0,
             max_pixels=0):
    if ds is not None:
        kind, values, applied, low, high = expected_gray(ds, stored, window)
    rows, cols = values.shape[:2]
    sampled = values[::stride, ::stride]
    cases.append({
        "file": file, "shared": shared, "window": window, "stride": stride,
        "kind": kind, "width": int(cols), "height": int(rows), "frames": frames,
        "applied": applied, "low": low, "high": high, "tolerance": tolerance,
        "mean": float(values.mean()), "pixels": sampled.reshape(-1).astype(int).tolist(),
    })


def read_back(path):
    ds = pydicom.dcmread(path, force=True)
    if "TransferSyntaxUID" not in ds.file_meta:  # no file meta: pydicom detected the encoding
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if ds.is_implicit_VR else ExplicitVRLittleEndian
    arr = ds.pixel_array
    return ds, arr


def synthetic():
    # 1. Explicit VR LE, 12 of 16 bits with garbage above High Bit, rescale, two windows,
    #    nested undefined-length sequences before the pixels.
    rows, cols = 30, 40
    ds = new_dataset("explicit_u16_voi", ExplicitVRLittleEndian, rows, cols, stored=12)
    ds.RescaleSlope, ds.RescaleIntercept = "1.5", "-100"
    ds.WindowCenter, ds.WindowWidth = ["2000", "1000"], ["1500", "500"]
    vals = rng.integers(0, 4096, size=(rows, cols))
    raw = (vals | (rng.integers(0, 16, size=(rows, cols)) << 12)).astype("<u2")
    p = save(ds, "explicit_u16_voi.dcm", raw.tobytes())
    ds, arr = read_back(p)
    st = stored_values(ds, arr)
    assert (st == vals).all()
    for window in ("auto", "percentile", "minmax"):
        add_case("explicit_u16_voi.dcm", window, ds=ds, stored=st)

    # 2. Implicit VR LE, no preamble and no file meta, signed 16-bit, CT-like rescale, no window.
    rows, cols = 24, 32
    ds = new_dataset("implicit_s16", ImplicitVRLittleEndian, rows, cols, signed=True,
                     preamble=False, meta=False)
    ds.RescaleSlope, ds.RescaleIntercept = "1", "-1024"
    vals = np.clip(rng.normal(0, 800, size=(rows, cols)), -32768, 32767).astype("<i2")
    p = save(ds, "implicit_s16_nopreamble.dcm", vals.tobytes())
    ds, arr = read_back(p)
    st = stored_values(ds, arr)
    assert (st == vals).all()
    add_case("implicit_s16_nopreamble.dcm", ds=ds, stored=st)

    # 3. 8-bit MONOCHROME1 without window: kept as stored, inverted.
    rows, cols = 16, 20
    ds = new_dataset("mono1_u8", ExplicitVRLittleEndian, rows, cols, photometric="MONOCHROME1", bits=8)
    vals = rng.integers(0, 256, size=(rows, cols)).astype("u1")
    p = save(ds, "mono1_u8.dcm", vals.tobytes(), undefined_seq=False)
    ds, arr = read_back(p)
    st = stored_values(ds, arr)
    add_case("mono1_u8.dcm", ds=ds, stored=st)

    # 4. Signed 12-bit in 16 with High Bit 13 (shifted up by 2), negative slope, LINEAR_EXACT.
    rows, cols = 12, 14
    ds = new_dataset("shifted_s12", ExplicitVRLittleEndian, rows, cols, stored=12, high=13, signed=True)
    ds.RescaleSlope, ds.RescaleIntercept = "-2", "10"
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = "0", "3000", "LINEAR_EXACT"
    vals = rng.integers(-2048, 2048, size=(rows, cols))
    raw = (((vals & 0xFFF) << 2) | rng.integers(0, 4, size=(rows, cols)) | 0xC000).astype("<u2")
    p = save(ds, "shifted_s12.dcm", raw.tobytes())
    ds, arr = read_back(p)
    st = stored_values(ds, arr)
    assert (st == vals).all()
    add_case("shifted_s12.dcm", ds=ds, stored=st)
    add_case("shifted_s12.dcm", "percentile", ds=ds, stored=st)

    # 5. Big endian explicit VR, SIGMOID window.
    rows, cols = 10, 12
    ds = new_dataset("bigendian", ExplicitVRBigEndian, rows, cols)
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = "30000", "20000", "SIGMOID"
    vals = rng.integers(0, 65536, size=(rows, cols))
    p = save(ds, "bigendian_u16.dcm", vals.astype(">u2").tobytes())
    ds, arr = read_back(p)
    st = stored_values(ds, arr)
    assert (st == vals).all()
    add_case("bigendian_u16.dcm", ds=ds, stored=st)

    # 6. Deflated explicit VR LE.
    rows, cols = 20, 18
    ds = new_dataset("deflated", DeflatedExplicitVRLittleEndian, rows, cols, photometric="MONOCHROME1", stored=14)
    yy, xx = np.mgrid[0:rows, 0:cols]
    vals = (yy * 700 + xx * 90).astype("<u2")
    p = save(ds, "deflated_u16.dcm", vals.tobytes())
    ds, arr = read_back(p)
    st = stored_values(ds, arr)
    assert (st == vals).all()
    add_case("deflated_u16.dcm", ds=ds, stored=st)
    add_case("deflated_u16.dcm", "minmax", ds=ds, stored=st)

    # 7. Multi-frame 16-bit: the first frame, with a warning.
    rows, cols, frames = 8, 6, 3
    ds = new_dataset("multiframe", ExplicitVRLittleEndian, rows, cols, frames=frames)
    ds.WindowCenter, ds.WindowWidth = "1000", "800"
    vals = rng.integers(0, 2000, size=(frames, rows, cols)).astype("<u2")
    p = save(ds, "multiframe_u16.dcm", vals.tobytes())
    ds, arr = read_back(p)
    st = stored_values(ds, arr[0])
    assert (st == vals[0]).all()
    add_case("multiframe_u16.dcm", ds=ds, stored=st, frames=frames)

    # 8. RGB, 8-bit, planar configuration 1.
    rows, cols = 6, 5
    ds = new_dataset("rgb", ExplicitVRLittleEndian, rows, cols, photometric="RGB", spp=3, bits=8)
    ds.PlanarConfiguration = 1
    rgb = rng.integers(0, 256, size=(rows, cols, 3)).astype("u1")
    p = save(ds, "rgb_planar.dcm", rgb.transpose(2, 0, 1).tobytes(), undefined_seq=False)
    ds, arr = read_back(p)
    assert (arr == rgb).all()
    add_case("rgb_planar.dcm", kind="rgb", values=arr, applied="none", tolerance=0)

    # 8b. YBR_FULL, 8-bit interleaved: converted to RGB (reference: pydicom's convert_color_space).
    ds = new_dataset("ybr", ExplicitVRLittleEndian, rows, cols, photometric="YBR_FULL", spp=3, bits=8)
    ybr = rng.integers(0, 256, size=(rows, cols, 3)).astype("u1")
    p = save(ds, "ybr_full.dcm", ybr.tobytes(), undefined_seq=False)
    ds, arr = read_back(p)
    assert (arr == ybr).all()
    ref = convert_color_space(arr, "YBR_FULL", "RGB")
    add_case("ybr_full.dcm", kind="rgb", values=ref.astype(np.int64), applied="none", tolerance=2)

    # 8c. RGB, 12 of 16 bits: scaled to 16 bits per channel, round(v * 65535 / 4095).
    ds = new_dataset("rgb16", ExplicitVRLittleEndian, rows, cols, photometric="RGB", spp=3, stored=12)
    rgb16 = rng.integers(0, 4096, size=(rows, cols, 3)).astype("<u2")
    p = save(ds, "rgb16.dcm", rgb16.tobytes(), undefined_seq=False)
    ds, arr = read_back(p)
    assert (arr == rgb16).all()
    ref = np.round(stored_values(ds, arr) * 65535 / 4095)
    add_case("rgb16.dcm", kind="rgb64", values=ref.astype(np.int64), applied="none", tolerance=0)

    # 9. Encapsulated JPEG baseline, 3 frames of 2 fragments each: with and without the
    #    Basic Offset Table. Reference: Pillow's decode of frame 0.
    rows, cols, frames = 48, 64, 3
    yy, xx = np.mgrid[0:rows, 0:cols]
    jpegs = []
    for f in range(frames):
        img = ((xx * 3 + yy * 2 + f * 60) % 256).astype("u1")
        buf = io.BytesIO()
        Image.fromarray(img, "L").save(buf, format="JPEG", quality=90)
        jpegs.append(buf.getvalue())
    for has_bot, per_frame, name in ((True, 2, "jpeg_multiframe_bot.dcm"), (False, 2, "jpeg_multiframe_nobot.dcm"),
                                     (False, 1, "jpeg_multiframe_onefragment.dcm")):
        ds = new_dataset(name, JPEGBaseline8Bit, rows, cols, bits=8, frames=frames)
        ds.PixelData = encapsulate(jpegs, fragments_per_frame=per_frame, has_bot=has_bot)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        path = os.path.join(HERE, name)
        ds.save_as(path, write_like_original=False)
        subprocess.run(["dcmdump", "-q", path], check=True, stdout=subprocess.DEVNULL)
        ref = np.asarray(Image.open(io.BytesIO(jpegs[0])).convert("L")).astype(np.int64)
        add_case(name, kind="gray", values=ref, applied="none", tolerance=2, frames=frames)


def derived_cr(cr_path):
    """cr_small.dcm: the shared CR film decimated 8x (every 8th row and column), attributes kept."""
    ds = pydicom.dcmread(cr_path)
    arr = ds.pixel_array
    small = np.ascontiguousarray(arr[::8, ::8]).astype("<u2")
    ds.Rows, ds.Columns = small.shape
    ds.PixelSpacing = [float(v) * 8 for v in ds.PixelSpacing]
    ds.PixelData = small.tobytes()
    path = os.path.join(HERE, "cr_small.dcm")
    ds.save_as(path, write_like_original=False)
    subprocess.run(["dcmdump", "-q", path], check=True, stdout=subprocess.DEVNULL)
    ds, arr = read_back(path)
    add_case("cr_small.dcm", stride=4, ds=ds, stored=stored_values(ds, arr))
    add_case("cr_small.dcm", "percentile", stride=4, ds=ds, stored=stored_values(ds, arr))


def shared_goldens(cr_path, jpeg_path):
    ds, arr = read_back(cr_path)
    add_case(os.path.basename(cr_path), stride=16, shared=True, ds=ds, stored=stored_values(ds, arr))
    ds, arr = read_back(jpeg_path)  # pydicom's pillow handler (libjpeg)
    add_case(os.path.basename(jpeg_path), stride=16, shared=True, kind="gray",
             values=arr.astype(np.int64), applied="none", tolerance=2)
    return ds


def dcmtk_crosscheck():
    """A second reference: dcmtk's dcm2pnm renders the same windows to 16-bit PGM."""
    if shutil.which("dcm2pnm") is None:
        print("dcm2pnm not found: dcmtk cross-check skipped")
        return
    for name, window, flag in (("cr_small.dcm", "auto", "+Wi"), ("deflated_u16.dcm", "minmax", "+Wm")):
        out = os.path.join("/tmp", name + ".pgm")
        args = ["dcm2pnm", flag] + (["1"] if flag == "+Wi" else []) + ["+on2", os.path.join(HERE, name), out]
        subprocess.run(args, check=True)
        got = np.asarray(Image.open(out)).astype(np.int64)
        case = next(c for c in cases if c["file"] == name and c["window"] == window)
        s = case["stride"]
        ref = np.array(case["pixels"]).reshape(got[::s, ::s].shape)
        diff = int(np.abs(got[::s, ::s] - ref).max())
        print(f"dcmtk {name} {window}: max abs difference {diff}")
        assert diff <= 1, (name, diff)


def main():
    cr_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(SHARED, "cr_lidc_chest_monochrome1_explicit_le.dcm")
    jpeg_path = os.path.join(os.path.dirname(cr_path), "siim_chest_pa_jpeg_baseline.dcm")
    synthetic()
    derived_cr(cr_path)
    shutil.copyfile(jpeg_path, os.path.join(HERE, "siim_chest_pa_jpeg_baseline.dcm"))
    shared_goldens(cr_path, jpeg_path)
    # The committed copy of the SIIM file is checked like the shared one.
    c = dict(cases[-1])
    c["shared"] = False
    cases.append(c)
    dcmtk_crosscheck()
    with open(os.path.join(HERE, "golden.json"), "w") as f:
        json.dump({"generator": "gen_testdata.py", "pydicom": pydicom.__version__,
                   "numpy": np.__version__, "cases": cases}, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
