#!/usr/bin/env bash
# check-glibc.sh MAX LIB...: fail when a shared object needs a glibc symbol
# version newer than MAX, i.e. when the target image's glibc could not load it.
set -euo pipefail
max=$1; shift
status=0
for lib in "$@"; do
  need=$(objdump -T "$lib" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)
  if [ -z "$need" ]; then
    echo "$lib: no glibc symbol versions found" >&2; status=1; continue
  fi
  if [ "$(printf '%s\n%s\n' "$need" "$max" | sort -V | tail -n1)" != "$max" ]; then
    echo "$lib needs glibc $need, the target image has $max" >&2; status=1
  else
    echo "$lib needs glibc $need (target has $max): ok"
  fi
done
exit $status
