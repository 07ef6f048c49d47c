#!/usr/bin/env bash
# Build the slim Triton 3.9 package that three warm device calls can carry (the device has triton 3.6; TMA multicast
# and cluster barriers in Gluon need ≥ 3.9, whose wheel (286 MB) is over a call's 64 MiB). Run here, once:
#   bash tools/t39_build.sh            → .t39/part0 … part2 (≈ 17 MiB each) and .t39/SHA256 (ignored: /.t39/)
# What is dropped: the AMD backend, Blackwell's ptxas, CUPTI, proton and a test library; libtriton.so is stripped of
# debug info (476 → 183 MB). Then xz -9: 51 MiB. On the device: tools/t39_device.sh. Checked here under Python
# 3.12 (import, Gluon's tma.async_load has multicast= and cache_policy=); not yet run on the H200.
set -eu
cd "$(dirname "$0")/.."
T=$(mktemp -d)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 -d "$T" triton==3.9.0
mkdir "$T/slim" && (cd "$T/slim" && unzip -q "$T"/triton-3.9.0-*.whl)
S=$T/slim/triton
rm -rf "$S/backends/amd" "$S/backends/nvidia/bin/ptxas-blackwell" "$S"/backends/nvidia/lib/cupti* \
  "$S/_C/libproton.so" "$S/instrumentation"
strip --strip-unneeded "$S/_C/libtriton.so"
sed -i '/amd/d' "$T"/slim/triton-3.9.0.dist-info/entry_points.txt  # the AMD backend is not in the package
mkdir -p .t39 && rm -f .t39/part*
(cd "$T/slim" && tar cf - triton triton-3.9.0.dist-info) | xz -T2 -9 > "$T/t39.tar.xz"
sha256sum "$T/t39.tar.xz" | awk '{print $1}' > .t39/SHA256
split -b 17900000 -d -a 1 "$T/t39.tar.xz" .t39/part
ls -la .t39 && rm -rf "$T"
