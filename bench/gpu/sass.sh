#!/usr/bin/env bash
# bench/gpu/sass.sh: the machine code (SASS) of one search kernel, without a
# GPU, for reading the code's size and layout (how long the simulation loop
# is, what sits inside it, whether it touches local memory).
#
#   bench/gpu/sass.sh [KERNEL] [OUT]
#
# KERNEL: a mangled kernel name (default: the pick-cache kernel for 64
# actions, _Z22mctx__search_kernel_gpILi2ELb1EEv9DevSearch; the pipelined
# one's, in src/cuda/pipeline.cu, by a part of its name such as
# mctx__search_kernel_gppILi2ELb1E: the unnamed namespace's name has a hash). Compiles src/cuda/engine.cu (or pipeline.cu)
# for sm_90 to a cubin (about 4 minutes on two cores),
# writes OUT (default /tmp/mctx-sass/KERNEL.sass) and prints the kernel's
# instruction count, its out-of-line functions and its barriers.
#
# The CUDA 13 toolkit here has no disassembler. Debian's non-free archive
# has CUDA 11.8's nvdisasm, which knows sm_90; it is fetched once into
# /tmp/mctx-sass (the package is unpacked there, not installed), and the
# cubin's ELF header is rewritten to the layout 11.8 reads (the code is
# unchanged).
set -euo pipefail
cd "$(dirname "$0")/../.."
KERNEL=${1:-_Z22mctx__search_kernel_gpILi2ELb1EEv9DevSearch}
W=/tmp/mctx-sass
OUT=${2:-$W/$KERNEL.sass}
mkdir -p "$W/parts" "$W/lists/partial" "$W/x"
NVDISASM=$W/x/usr/bin/nvdisasm
if [ ! -x "$NVDISASM" ]; then
  cat >"$W/parts/nonfree.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  APT=(-oDir::Etc::SourceList=/dev/null -oDir::Etc::SourceParts="$W/parts" -oDir::State::Lists="$W/lists")
  apt-get "${APT[@]}" update >/dev/null
  (cd "$W" && apt-get "${APT[@]}" download nvidia-cuda-toolkit >/dev/null 2>&1)
  dpkg -x "$W"/nvidia-cuda-toolkit_*.deb "$W/x"
fi
# the pipelined pick cache's kernels are in their own file
case "$KERNEL" in *search_kernel_gpp*) SRC=src/cuda/pipeline.cu ;; *) SRC=src/cuda/engine.cu ;; esac
CUBIN=$W/$(basename "$SRC" .cu).sm_90.cubin
# REUSE=1: read the cubin of the last run instead of compiling again
[ "${REUSE:-0}" = 1 ] && [ -f "$CUBIN" ] ||
nvcc -O3 -DNDEBUG -D_GNU_SOURCE -Iinclude -Isrc -std=c++17 -cubin -arch=sm_90 -lineinfo -fmad=false \
  -prec-div=true -prec-sqrt=true -ftz=false -o "$CUBIN" "$SRC"
python3 - "$CUBIN" "$KERNEL" >"$W/index" <<'PY'
import struct, sys
path, kernel = sys.argv[1], sys.argv[2]
d = bytearray(open(path, "rb").read())
shoff = struct.unpack_from("<Q", d, 0x28)[0]
shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x3A)
secs = [struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * shentsize) for i in range(shnum)]
syms = []
for s in secs:
    if s[1] != 2:  # SHT_SYMTAB
        continue
    strtab = secs[s[6]][4]
    for i in range(s[5] // 24):
        name, _, _, _, value, size = struct.unpack_from("<IBBHQQ", d, s[4] + i * 24)
        end = d.index(b"\0", strtab + name)
        syms.append((i, d[strtab + name:end].decode(), value, size))
# the kernel by its exact name, or the one kernel whose name contains it
# (names in an unnamed namespace carry a hash of the file)
names = [n for _, n, _, _ in syms if n == kernel] or \
        sorted({n for _, n, _, _ in syms if kernel in n and n.startswith("_Z")})
kernel = names[0] if len(names) == 1 else None
index, parts = None, []
for i, n, value, size in syms:
    if n == kernel:
        index = i
        print("# %s: %d instructions" % (n, size // 16), file=sys.stderr)
    elif kernel and n.startswith("$" + kernel + "$"):
        parts.append((value, size, n.split("$")[2]))
for value, size, n in sorted(parts):
    print("#   out of line at 0x%x: %s, %d instructions" % (value, n, size // 16), file=sys.stderr)
# the ELF header as CUDA 11.8 writes it for sm_90
d[7], d[8] = 0x33, 7
struct.pack_into("<I", d, 0x30, 0x005A055A)
open(path + ".old", "wb").write(d)
print(index if index is not None else "")
PY
idx=$(cat "$W/index")
[ -n "$idx" ] || {
  echo "sass.sh: no kernel $KERNEL in $SRC's cubin; its kernels:" >&2
  strings "$CUBIN" | grep -E '^_Z.*search_kernel' | sort -u | sed 's/^/  /' >&2
  exit 1
}
"$NVDISASM" -fun "$idx" -c "$CUBIN.old" >"$OUT"
echo "# barriers:"
{ grep -n "BAR.SYNC" "$OUT" || true; } | sed "s/^/#   /"
echo "# local memory (LDL/STL): $(grep -c -E 'LDL|STL' "$OUT" || true) instructions"
echo "$OUT"
