#!/usr/bin/env bash
# Configure must fail with a message naming the missing piece: no CUDA compiler, or a required
# package that is absent (with downloads off). Configures common/ alone into temp dirs.
#   configure_errors.sh <repo root> <cmake executable>
set -uo pipefail
root=$1
cmake=${2:-cmake}  # absolute: the no-CUDA case empties PATH, and cmake may live anywhere
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
expect() {  # expect <name> <substring> <cmake args...>
  local name=$1 want=$2
  shift 2
  if out=$("$@" 2>&1); then
    echo "FAIL $name: configure succeeded"; fails=$((fails + 1))
  elif grep -q "$want" <<<"$(tr -s ' \n' ' ' <<<"$out")"; then
    echo "ok   $name: '$want'"
  else
    echo "FAIL $name: message lacks '$want':"; echo "$out" | tail -n 8; fails=$((fails + 1))
  fi
}
expect no-cuda "llmi: no CUDA compiler found" \
  env -u CUDACXX PATH=/usr/bin:/bin "$cmake" -S "$root/common" -B "$tmp/a" -DCMAKE_CUDA_COMPILER=
for pkg in Catch2:catch2 CLI11:libcli11-dev nlohmann_json:nlohmann-json3-dev; do
  expect "no-${pkg%%:*}" "required package ${pkg%%:*} not found. Install it (Debian/Ubuntu: apt-get install ${pkg#*:})" \
    "$cmake" -S "$root/common" -B "$tmp/${pkg%%:*}" -DLLMI_ALLOW_FETCH=OFF \
      "-DCMAKE_DISABLE_FIND_PACKAGE_${pkg%%:*}=ON"
done
echo "$((4 - fails)) passed, $fails failed"
exit $((fails > 0))
