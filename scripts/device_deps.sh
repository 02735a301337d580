#!/usr/bin/env bash
# For the lent GPU machine, which has no network: prints CMake arguments that point at the
# header-only packages unpacked under .deps/root (made on the dev machine with apt-get download +
# dpkg -x) for whichever of Catch2, CLI11 and nlohmann-json the machine lacks.
d=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.deps/root/usr
have() { compgen -G "/usr/lib/cmake/$1/$1Config.cmake" >/dev/null ||
         compgen -G "/usr/lib/*/cmake/$1/$1Config.cmake" >/dev/null ||
         compgen -G "/usr/share/cmake/$1/$1Config.cmake" >/dev/null; }
args=""
have Catch2 || args+=" -DCatch2_DIR=$d/lib/cmake/Catch2"
have CLI11 || args+=" -DCLI11_DIR=$d/share/cmake/CLI11"
have nlohmann_json || args+=" -Dnlohmann_json_DIR=$d/share/cmake/nlohmann_json"
echo "$args"
