#!/bin/sh
# Rebuild the demo model from scratch (see demo/README.md):
#   1. train the tiny LLaMA and write the tiny vision checkpoints (PyTorch, CPU),
#   2. convert both to GGUF and quantize the LLM to Q8_0 with our own tools.
# Run from anywhere; needs Debian's /usr/bin/python3 (torch, sentencepiece, PIL),
# Go and the data in ../shared/data (or $XRAYGPT_DATA).
set -eu
cd "$(dirname "$0")/.."
BUILD=demo/build
mkdir -p "$BUILD"

/usr/bin/python3 demo/train.py --out "$BUILD" "$@"

make -s build
bin/xraygpt convert llm "$BUILD/hf" -o "$BUILD/radllama-demo-f16.gguf"
bin/xraygpt quantize "$BUILD/radllama-demo-f16.gguf" demo/radllama-demo-q8_0.gguf Q8_0
bin/xraygpt convert vision \
	--eva "$BUILD/vision/eva_vit_g.pth" \
	--qformer "$BUILD/vision/blip2_pretrained_flant5xxl.pth" \
	--proj "$BUILD/vision/xraygpt_checkpoint.pth" \
	--dtype f16 -o demo/xraygpt-demo-vision.gguf
ls -l demo/*.gguf
