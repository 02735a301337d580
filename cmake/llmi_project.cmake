# Project-wide settings and the helpers every directory uses to declare tests and benchmarks.
# Included by the root CMakeLists.txt, or by a paper directory built on its own.
include_guard(GLOBAL)

set(LLMI_ROOT "${CMAKE_CURRENT_LIST_DIR}/..")  # the repo root, for every directory below
cmake_path(NORMAL_PATH LLMI_ROOT)

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()
set(CMAKE_CXX_STANDARD 17)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
# Static cudart lets test binaries start on a machine without a driver, so they can report
# "skipped" instead of failing to load libcuda.
set(CMAKE_CUDA_RUNTIME_LIBRARY Static)

find_program(LLMI_CCACHE ccache)
if(LLMI_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${LLMI_CCACHE})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${LLMI_CCACHE})
endif()

include(${CMAKE_CURRENT_LIST_DIR}/llmi_deps.cmake)
enable_testing()

# The real trained checkpoint (pycode-19m) that runtime, SARATHI and decoding tests load: shared/
# beside the repository (as CI and dev machines lay it out), or -DLLMI_PYCODE_DIR=... elsewhere
# (the GPU check carries a copy). Tests that need it fail loudly when it is missing.
set(LLMI_PYCODE_DIR "${LLMI_ROOT}/../shared/models/pycode-19m" CACHE PATH "pycode-19m checkpoint")

# CTest treats this exit code as "skipped": GPU tests use it when there is no CUDA device.
set(LLMI_SKIP_RETURN_CODE 77)

# llmi_add_test(NAME <name> SOURCES ... LABEL cpu|gpu|mpi [LIBS ...] [MPI_RANKS n ...])
# One Catch2 executable, one CTest entry (per rank count for MPI tests). GPU tests skip with
# code 77 when no device is present, so CI shows them as skipped, never as passed.
function(llmi_add_test)
  cmake_parse_arguments(T "" "NAME;LABEL" "SOURCES;LIBS;MPI_RANKS" ${ARGN})
  if(NOT T_LABEL MATCHES "^(cpu|gpu|mpi)$")
    message(FATAL_ERROR "llmi_add_test(${T_NAME}): LABEL must be cpu, gpu or mpi")
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  if(T_LABEL STREQUAL "gpu")
    target_link_libraries(${T_NAME} PRIVATE llmi::common llmi::test_main_gpu ${T_LIBS})
  else()
    target_link_libraries(${T_NAME} PRIVATE llmi::common llmi::test_main ${T_LIBS})
  endif()
  if(T_LABEL STREQUAL "mpi")
    foreach(n IN LISTS T_MPI_RANKS)
      add_test(NAME ${T_NAME}_np${n}
               COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${n} --oversubscribe
                       --allow-run-as-root ${MPIEXEC_PREFLAGS} $<TARGET_FILE:${T_NAME}>)
      set_tests_properties(${T_NAME}_np${n} PROPERTIES LABELS "mpi;cpu" TIMEOUT 300)
    endforeach()
  else()
    add_test(NAME ${T_NAME} COMMAND ${T_NAME})
    set_tests_properties(${T_NAME} PROPERTIES LABELS ${T_LABEL} TIMEOUT 600
                         SKIP_RETURN_CODE ${LLMI_SKIP_RETURN_CODE})
  endif()
endfunction()

# llmi_add_bench(NAME <name> SOURCES ... [LIBS ...]): one CLI11 benchmark executable, with a
# CTest smoke test (`--help` must parse) so CI checks every benchmark's command line.
function(llmi_add_bench)
  cmake_parse_arguments(B "" "NAME" "SOURCES;LIBS" ${ARGN})
  add_executable(${B_NAME} ${B_SOURCES})
  target_link_libraries(${B_NAME} PRIVATE llmi::common ${B_LIBS})
  add_test(NAME ${B_NAME}_help COMMAND ${B_NAME} --help)
  set_tests_properties(${B_NAME}_help PROPERTIES LABELS cpu TIMEOUT 60)
endfunction()

# A paper directory built on its own (cd paper && cmake -B build) pulls in common/ itself.
macro(llmi_use_common)
  if(NOT TARGET llmi::common)
    add_subdirectory(${LLMI_ROOT}/common ${CMAKE_BINARY_DIR}/_llmi_common)
  endif()
endmacro()
