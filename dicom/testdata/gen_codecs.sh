#!/usr/bin/env bash
# Regenerates dicom/testdata/codecs: small synthetic images (8/12/16-bit grey, signed 12-bit,
# 8-bit RGB, odd sizes) written uncompressed by the test's own writer, encoded with dcmtk
# (dcmcjpeg lossless SV1, predictors 2-7, point transform, baseline, 12-bit extended;
# dcmcrle; dcmcjpls lossless and near-lossless) and GDCM (gdcmconv --jpeg, --rle, --jpegls,
# --j2k, --j2k --lossy), each beside GDCM's decode (gdcmconv --raw) as NAME.ref.dcm.
# Needs Debian's dcmtk and libgdcm-tools (build/install-deps.sh). Run from anywhere:
#   dicom/testdata/gen_codecs.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(make -s env)"
go test ./dicom -run 'TestCodecsAgainstTools$' -count=1 -gen-codecs
echo "wrote $(ls dicom/testdata/codecs | wc -l) files, $(du -sh dicom/testdata/codecs | cut -f1)"
