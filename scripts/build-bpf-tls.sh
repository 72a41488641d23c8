#!/bin/sh
# Builds the TLS plaintext taps (src/tls/): bpf/tls_tap.bpf.o from bpf/tls_tap.c (OpenSSL) and
# bpf/go_tls.bpf.o from bpf/go_tls.c (Go crypto/tls, x86-64 only).
#
#   scripts/build-bpf-tls.sh              writes both objects (commit them: users need no clang)
#   scripts/build-bpf-tls.sh OUT.o [SRC]  builds SRC (default bpf/tls_tap.c) into OUT.o instead
#                                         (src/tls/abi.test.ts builds into a temp file)
#
# Same flags and reproducibility tricks as scripts/build-bpf.sh (see its comments: -mcpu=v3, -g then
# llvm-strip -g, -fdebug-prefix-map, the multiarch include directory), plus:
# -D__TARGET_ARCH_<arch>: <bpf/bpf_tracing.h> needs it to name the pt_regs registers that hold the
#   uprobe arguments (PT_REGS_PARM1..4, PT_REGS_RC). The object is therefore for the architecture it
#   is built on; the committed one is x86-64. The kernel structs it reads go through CO-RE
#   relocations, so it is not tied to one kernel version.
set -eu
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  sh scripts/build-bpf-tls.sh bpf/tls_tap.bpf.o bpf/tls_tap.c
  exec sh scripts/build-bpf-tls.sh bpf/go_tls.bpf.o bpf/go_tls.c
fi
out="$1"
src="${2:-bpf/tls_tap.c}"
CLANG="${CLANG:-clang}"
STRIP="${LLVM_STRIP:-llvm-strip}"
machine="${TARGET_MACHINE:-$(uname -m)}"
case "$machine" in
  x86_64) arch=x86 ;;
  aarch64|arm64) arch=arm64 ;;
  *) echo "build-bpf-tls.sh: no bpf_tracing.h target for $machine" >&2; exit 1 ;;
esac
multiarch="/usr/include/$(uname -m)-linux-gnu"
"$CLANG" -O2 -g -target bpf -mcpu=v3 -Wall -Werror -D__TARGET_ARCH_"$arch" \
  -I bpf -I "$multiarch" -fdebug-prefix-map="$(pwd)"=. \
  -c "$src" -o "$out"
"$STRIP" -g "$out"
