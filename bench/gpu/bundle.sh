#!/usr/bin/env bash
# bench/gpu/bundle.sh: packs a GPU build for a GPU machine that has the NVIDIA
# driver and CUDA's libraries but none of ours: the command, the GPU tests,
# and the shared libraries they load (but the C library's own, NCCL and
# CUDA's), laid out as a build directory, so that
#
#   tar -xJf bundle.tar.xz -C B && LD_LIBRARY_PATH=B/lib:B/mpilib scripts/gpu-check.sh B
#
# runs there (scripts/gpu-check.sh unpacks it itself when given the tarball).
#
#   bench/gpu/bundle.sh BUILD_DIR [OUT]     (OUT: .device/gpu/bundle.tar.xz)
#
# BUILD_DIR: a release build with CUDA (-DMCTX_CUDA_ARCHITECTURES=90 is enough
# for an H100 and builds in about a minute on two cores).
set -euo pipefail
BUILD=${1:?usage: bundle.sh BUILD_DIR [OUT]}
OUT=${2:-.device/gpu/bundle.tar.xz}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/tests" "$stage/lib" "$stage/mpilib"
cp "$BUILD/mctx" "$stage/"
for t in cuda-test-parity cuda-test-network cuda-test-callback; do
  [ -x "$BUILD/tests/$t" ] && cp "$BUILD/tests/$t" "$stage/tests/"
done
[ -x "$BUILD/examples/gpu_demo" ] && mkdir -p "$stage/examples" && cp "$BUILD/examples/gpu_demo" "$stage/examples/"
[ -x "$BUILD/mctx-mlp-weights" ] && mkdir -p "$stage/tools" && cp "$BUILD/mctx-mlp-weights" "$stage/tools/"
for f in "$stage"/mctx "$stage"/tests/*; do
  ldd "$f" 2>/dev/null | awk '$3 ~ /^\// {print $3}'
done | sort -u | grep -v -E '/(libc|libm|libdl|libpthread|librt|libgcc_s|libstdc\+\+|libnccl|libcuda|libcudart|libcublas(Lt)?)\.so' |
  while read -r lib; do
    if basename "$lib" | grep -q -E '^lib(mpi|open-|pmix|hwloc|event|fabric|uc[mpst]|ibverbs|rdmacm|psm|efa|nl-|munge|numa)'; then
      cp -L "$lib" "$stage/mpilib/"
    else
      cp -L "$lib" "$stage/lib/"
    fi
  done
mkdir -p "$(dirname "$OUT")"
XZ_OPT=-9e tar -C "$stage" -cJf "$OUT" .  # a 64 MiB dictionary: the binaries share their kernels
ls -la "$OUT"
