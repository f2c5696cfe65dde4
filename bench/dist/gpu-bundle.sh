#!/usr/bin/env bash
# bench/dist/gpu-bundle.sh: packs what the distributed GPU checks need on a
# GPU machine that has CUDA's driver and NCCL but no Open MPI and none of our
# libraries: the binaries of a GPU build, the shared
# libraries they and Open MPI load, and Open MPI's launcher, plugins and help
# files (which it finds at the paths it was built for).
#
#   bench/dist/gpu-bundle.sh BUILD_DIR [OUT]     (OUT: .device/dist/bundle.tar.xz)
#
# bench/dist/gpu-run.sh unpacks and runs it there.
set -euo pipefail
BUILD=${1:?usage: gpu-bundle.sh BUILD_DIR [OUT]}
OUT=${2:-.device/dist/bundle.tar.xz}
stage=$(mktemp -d)
mkdir -p "$stage/bin" "$stage/lib" "$stage/mpilib" "$stage/root"
# Three binaries: each carries the CUDA kernels for four architectures (~11 MB compressed).
cp "$BUILD/mctx" "$BUILD/tests/dist-test-nccl" "$BUILD/dist-overhead" "$stage/bin/"
# Shared libraries of the binaries, of Open MPI's launcher and of its plugins,
# but the C library's own and NCCL (the GPU machine has those).
{
  for f in "$stage"/bin/* /usr/bin/orterun /usr/lib/x86_64-linux-gnu/openmpi/lib/openmpi3/*.so \
           /usr/lib/x86_64-linux-gnu/pmix2/lib/pmix/*.so; do
    ldd "$f" 2>/dev/null | awk '$3 ~ /^\// {print $3}'
  done
} | sort -u | grep -v -E '/(libc|libm|libdl|libpthread|librt|libgcc_s|libstdc\+\+|libnccl)\.so' |
  while read -r lib; do
    # Open MPI's own family apart (mpilib/): a machine with Open MPI uses its own.
    if basename "$lib" | grep -q -E '^lib(mpi|open-|pmix|mca_|oshmem|hwloc|event|fabric|uc[mpst]|ibverbs|rdmacm|psm|infinipath|efa|nl-|munge|numa)'; then
      cp -L "$lib" "$stage/mpilib/"
    else
      cp -L "$lib" "$stage/lib/"
    fi
  done
# Open MPI where it looks for itself.
for d in /usr/lib/x86_64-linux-gnu/openmpi /usr/lib/x86_64-linux-gnu/pmix2 /usr/share/openmpi /usr/share/pmix \
         /etc/openmpi; do
  [ -e "$d" ] && mkdir -p "$stage/root$(dirname "$d")" && cp -a "$d" "$stage/root$(dirname "$d")/"
done
mkdir -p "$stage/root/usr/bin"
cp -L /usr/bin/orterun "$stage/root/usr/bin/orterun"
mkdir -p "$(dirname "$OUT")"
tar -C "$stage" -cJf "$OUT" .
rm -rf "$stage"
ls -la "$OUT"
