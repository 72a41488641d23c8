#!/bin/sh
# Builds test/bpf/tcp_faults.bpf.o (test-only tc programs; see tcp_faults.c). Same flags as
# scripts/build-bpf.sh: -mcpu=v3, -g for BTF then the DWARF stripped, paths made relative.
set -eu
cd "$(dirname "$0")/../.."
multiarch="/usr/include/$(uname -m)-linux-gnu"
"${CLANG:-clang}" -O2 -g -target bpf -mcpu=v3 -Wall -Werror -I "$multiarch" -fdebug-prefix-map="$(pwd)"=. \
  -c test/bpf/tcp_faults.c -o test/bpf/tcp_faults.bpf.o
"${LLVM_STRIP:-llvm-strip}" -g test/bpf/tcp_faults.bpf.o
