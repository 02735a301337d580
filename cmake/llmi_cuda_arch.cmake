# Chooses CMAKE_CUDA_ARCHITECTURES before CUDA is enabled (include before project()).
#
# Order: an explicit -DCMAKE_CUDA_ARCHITECTURES=... (e.g. 80 for A100) wins; else the GPU that
# nvidia-smi reports; else 90a (Hopper with wgmma/TMA). We never use "native": it is a configure
# error on a machine without a GPU, which is exactly what CI is.
include_guard(GLOBAL)

if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
  set(_llmi_arch "90a")
  find_program(_llmi_nvidia_smi nvidia-smi)
  if(_llmi_nvidia_smi)
    execute_process(COMMAND ${_llmi_nvidia_smi} --query-gpu=compute_cap --format=csv,noheader
                    OUTPUT_VARIABLE _llmi_cc RESULT_VARIABLE _llmi_rc ERROR_QUIET
                    OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(_llmi_rc EQUAL 0 AND _llmi_cc MATCHES "^([0-9]+)\\.([0-9]+)")
      set(_llmi_arch "${CMAKE_MATCH_1}${CMAKE_MATCH_2}")
      # Hopper's own instructions (wgmma, setmaxnreg) exist only in the arch-specific target.
      if(_llmi_arch STREQUAL "90")
        set(_llmi_arch "90a")
      endif()
    endif()
  endif()
  set(CMAKE_CUDA_ARCHITECTURES "${_llmi_arch}" CACHE STRING "CUDA architectures (e.g. 90a, 80)")
endif()

# Called by llmi_deps.cmake after project(... LANGUAGES CXX): fails clearly when there is no CUDA compiler, instead of
# CMake's generic error, then enables CUDA with the architectures chosen above.
macro(llmi_enable_cuda)
  include(CheckLanguage)
  check_language(CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    message(FATAL_ERROR
      "llmi: no CUDA compiler found. Install the CUDA Toolkit (>= 12.4) and put nvcc on PATH, "
      "or pass -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc.")
  endif()
  enable_language(CUDA)
endmacro()
