# Finds the Debian packages libmoecore links against (GUIDE.md section 3) and, per MC_CUDA, the
# CUDA toolkit. scripts/install-deps.sh installs all of them.
find_package(PkgConfig REQUIRED)
find_package(SQLite3 REQUIRED)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
find_package(OpenMP REQUIRED COMPONENTS C)
# OpenBLAS's OpenMP build (libopenblas-openmp-dev): CBLAS for our GEMMs and for GSL.
pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)
# GSL linked against OpenBLAS's CBLAS instead of gslcblas, so not through gsl.pc.
find_path(GSL_INCLUDE_DIR gsl/gsl_rng.h REQUIRED)
find_library(GSL_LIBRARY gsl REQUIRED)
# cairo: charts written as PNG (plot.h).
pkg_check_modules(CAIRO REQUIRED IMPORTED_TARGET cairo)
# oneDNN through its C API; linked directly (its CMake package also demands OpenCL, unused here).
find_path(DNNL_INCLUDE_DIR dnnl.h REQUIRED)
find_library(DNNL_LIBRARY dnnl REQUIRED)

set(MC_HAVE_CUDA OFF)
if(NOT MC_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(CMAKE_CUDA_ARCHITECTURES "80-real;90" CACHE STRING "GPU architectures: SASS for sm_80 and sm_90, PTX for sm_90")
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(MC_HAVE_CUDA ON)
  elseif(MC_CUDA STREQUAL "ON")
    message(FATAL_ERROR "MC_CUDA=ON but no CUDA compiler was found (set CMAKE_CUDA_COMPILER)")
  endif()
endif()
message(STATUS "moesuite: CUDA backend ${MC_HAVE_CUDA}, sanitizers ${MC_SANITIZE}, tests ${MC_BUILD_TESTS}")
