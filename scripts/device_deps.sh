#!/usr/bin/env bash
# For the lent GPU machine, which has no network: prints CMake arguments that point at the
# header-only packages unpacked under .deps/root (made on the dev machine with apt-get download +
# dpkg -x) for whichever of Catch2, CLI11 and nlohmann-json the machine lacks.
d=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.deps/root/usr
args=""
ls /usr/lib/cmake/Catch2/Catch2Config.cmake /usr/lib/*/cmake/Catch2/Catch2Config.cmake >/dev/null 2>&1 ||
  args+=" -DCatch2_DIR=$d/lib/cmake/Catch2"
ls /usr/share/cmake/CLI11/CLI11Config.cmake /usr/lib/*/cmake/CLI11/CLI11Config.cmake >/dev/null 2>&1 ||
  args+=" -DCLI11_DIR=$d/share/cmake/CLI11"
ls /usr/share/cmake/nlohmann_json/nlohmann_jsonConfig.cmake /usr/lib/*/cmake/nlohmann_json/nlohmann_jsonConfig.cmake >/dev/null 2>&1 ||
  args+=" -Dnlohmann_json_DIR=$d/share/cmake/nlohmann_json"
echo "$args"
