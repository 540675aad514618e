# DNNL::dnnl (oneDNN), for the CPU kernels and for the installed CMake package's static
# runtime target.
#
# Debian's oneDNN 2.6 is built with the OpenCL GPU runtime, and its dnnl-config.cmake fails
# hard when the OpenCL *development* files (ocl-icd-opencl-dev, opencl-c-headers) are missing,
# although the CPU C API needs neither (libdnnl.so.2 pulls libOpenCL.so.1 in by itself). So:
# the package config when OpenCL is findable, else an imported DNNL::dnnl of our own.
if(NOT TARGET DNNL::dnnl)
  find_package(OpenCL QUIET)
  if(OpenCL_FOUND)
    find_package(dnnl CONFIG REQUIRED)
  else()
    find_library(PRECIS_DNNL_LIBRARY NAMES dnnl REQUIRED)
    find_path(PRECIS_DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.h REQUIRED)
    add_library(DNNL::dnnl SHARED IMPORTED)
    set_target_properties(DNNL::dnnl PROPERTIES
      IMPORTED_LOCATION ${PRECIS_DNNL_LIBRARY}
      INTERFACE_INCLUDE_DIRECTORIES ${PRECIS_DNNL_INCLUDE_DIR})
    message(STATUS "oneDNN: ${PRECIS_DNNL_LIBRARY} (no OpenCL dev files; package config skipped)")
  endif()
endif()
