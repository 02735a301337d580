#!/usr/bin/env bash
# Quick-start command 1: build everything and run the test suite.
#
#   scripts/build_and_test.sh            # preset "release": CUDA arch of the GPU present, else 90a
#   LLMI_PRESET=ci scripts/build_and_test.sh   # what .ci/run does: sm_90a, no downloads
#
# Installs missing system packages first (apt-get as root, or through passwordless sudo);
# otherwise prints the exact install line and stops. On a machine without a GPU the GPU tests
# report "Skipped"; the CPU tests (references, schedulers, block managers, loaders, CLI) all run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
preset=${LLMI_PRESET:-release}

# Debian 12 / Ubuntu 24.04 package names. The CUDA toolkit itself comes from NVIDIA's installer.
packages=(cmake ninja-build g++ ccache git python3 catch2 libcli11-dev nlohmann-json3-dev
          libopenmpi-dev openmpi-bin shellcheck munge slurmctld slurmd slurm-client)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "build_and_test: installing missing packages: ${missing[*]}"
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  elif sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "build_and_test: cannot install packages without root. Run:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
command -v nvcc >/dev/null || {
  echo "build_and_test: nvcc not found: install the CUDA Toolkit (>= 12.4) or add it to PATH" >&2
  exit 1
}

jobs=$(nproc)
cmake --preset "$preset"
cmake --build --preset "$preset" -j "$jobs"
ctest --preset "$preset" -j "$jobs"
