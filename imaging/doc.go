// Package imaging decodes chest X-ray images (PNG, JPEG) safely and turns
// them into encoder input tensors exactly as the Python references do
// (XrayGPT's blip2_image_eval and MedCLIP's feature extractor on Pillow 9.4).
//
// Load and Decode recognise the format by its first bytes, check the
// header's dimensions against Limits before any pixel memory is allocated,
// and report malformed or truncated files as errors (ErrFormat, ErrTooLarge,
// ErrUnsupported, ErrCorrupt). ToRGB8, ToGray8, Resize, PadToSquare and
// CenterCrop are the building blocks of BLIP2Eval and MedCLIPEval; Resize
// reproduces Pillow's antialiased BICUBIC resampling byte for byte, and the
// JPEG decoder reproduces libjpeg-turbo's samples, so the 8-bit tensors equal
// Pillow 9.4's on every golden input (testdata/gen_golden.py).
//
// The one deliberate difference from Pillow: a 16-bit gray PNG, which Pillow
// clips at 255 when converting (turning an X-ray white), is scaled to 8 bits
// with rounding (see ToRGB8).
package imaging
