# Finds every dependency the standard way, with a FetchContent fallback for machines that have
# internet access but not the distribution packages. Included once, by whichever project is top.
include_guard(GLOBAL)
list(APPEND CMAKE_MODULE_PATH "${CMAKE_CURRENT_LIST_DIR}")

include(FetchContent)
set(LLMI_ALLOW_FETCH ON CACHE BOOL "Download Catch2/CLI11/nlohmann-json when no package is installed")

# Each of the three: the installed package first, else a pinned release when fetching is allowed,
# else a configure error that names the package to install.
macro(llmi_find_or_fetch pkg target debian_pkg url tag)
  find_package(${pkg} QUIET)
  if(NOT TARGET ${target})
    if(LLMI_ALLOW_FETCH)
      message(STATUS "llmi: ${pkg} not installed; fetching ${tag} from ${url}")
      FetchContent_Declare(${pkg} GIT_REPOSITORY ${url} GIT_TAG ${tag} GIT_SHALLOW TRUE)
      FetchContent_MakeAvailable(${pkg})
    endif()
    if(NOT TARGET ${target})
      message(FATAL_ERROR "llmi: required package ${pkg} not found. "
                          "Install it (Debian/Ubuntu: apt-get install ${debian_pkg}).")
    endif()
  endif()
endmacro()

llmi_find_or_fetch(Catch2 Catch2::Catch2 catch2 https://github.com/catchorg/Catch2.git v3.4.0)
llmi_find_or_fetch(CLI11 CLI11::CLI11 libcli11-dev https://github.com/CLIUtils/CLI11.git v2.4.1)
llmi_find_or_fetch(nlohmann_json nlohmann_json::nlohmann_json nlohmann-json3-dev
                   https://github.com/nlohmann/json.git v3.11.3)

# CUDA after the header-only packages, so a missing package is reported without first waiting
# for CUDA compiler detection.
llmi_enable_cuda()
find_package(CUDAToolkit 12.0 REQUIRED)  # CUDA::cudart, CUDA::cublas, CUDA::cublasLt

find_package(NCCL)
if(NOT NCCL_FOUND)
  message(STATUS "llmi: NCCL not found (searched the CUDA toolkit and /usr): "
                 "multi-GPU code (context_parallel) will not be built. Install libnccl-dev.")
endif()

find_package(MPI COMPONENTS CXX)
if(NOT MPI_CXX_FOUND)
  message(STATUS "llmi: MPI not found: MPI launchers and MPI tests are skipped. "
                 "Install libopenmpi-dev openmpi-bin to enable them.")
endif()
