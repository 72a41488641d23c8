#!/bin/sh
# Builds bpf/socket_filter.bpf.o from bpf/socket_filter.c (npm run build:bpf).
#
#   scripts/build-bpf.sh            writes bpf/socket_filter.bpf.o (commit it: users need no clang)
#   scripts/build-bpf.sh OUT.o      writes OUT.o instead (the freshness test builds into a temp file)
#
# -mcpu=v3: clang 14 defaults to v1, whose code for this program the verifier rejects (and v3 has
#   the 32-bit jumps and atomics the counters use).
# -g then llvm-strip -g: -g makes the .BTF and .BTF.ext sections libbpf needs for the .maps
#   definitions; the DWARF sections it also makes are stripped. .BTF.ext line info names the source
#   file by absolute path, hence -fdebug-prefix-map: with both, the object is the same byte for byte
#   wherever the tree is checked out (checked: two checkouts, same clang, identical objects).
# The multiarch include directory supplies <asm/types.h> for <linux/bpf.h> (Debian's linux-libc-dev).
set -eu
cd "$(dirname "$0")/.."
out="${1:-bpf/socket_filter.bpf.o}"
CLANG="${CLANG:-clang}"
STRIP="${LLVM_STRIP:-llvm-strip}"
multiarch="/usr/include/$(uname -m)-linux-gnu"
"$CLANG" -O2 -g -target bpf -mcpu=v3 -Wall -Werror \
  -I bpf -I "$multiarch" -fdebug-prefix-map="$(pwd)"=. \
  -c bpf/socket_filter.c -o "$out"
"$STRIP" -g "$out"
