# The installed runtime. `cmake --install <build> [--prefix P]` puts under P:
#
#   lib/libprecis_runtime.so(.0, .0.1.0)  the runtime as one shared library: exports only the C
#                                          API and namespace precis::rt (precis_runtime.map)
#   lib/libprecis_runtime.a               the runtime as one static archive (CPU kernels,
#                                          artifact schema and CUDA backend included)
#   include/precis/runtime/*.h            the public headers (no MLIR, LLVM, ONNX or protobuf
#                                          headers behind them)
#   lib/cmake/PrecisRuntime/              find_package(PrecisRuntime): precis::runtime,
#                                          precis::runtime_static
#   lib/pkgconfig/precis-runtime.pc       pkg-config --cflags --libs precis-runtime
#
# Both libraries are made from the objects of the runtime's build-tree targets (precis_runtime,
# precis_cpu_kernels, precis_schema, precis_cuda_backend: all position-independent), which the
# tools and tests keep linking as before. docs/embedding.md shows how to use them.
include_guard(GLOBAL)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(PRECIS_RUNTIME_VERSION 0.1.0)
set(PRECIS_RUNTIME_SOVERSION 0)
set(_precis_cmake_dir ${CMAKE_CURRENT_LIST_DIR})
set(_precis_dist_dir ${CMAKE_CURRENT_BINARY_DIR}/dist)

# Imported targets are visible in the directory that found them: find oneDNN here too.
include(${_precis_cmake_dir}/PrecisFindDnnl.cmake)
find_package(Threads REQUIRED)

set(_precis_objects "")
foreach(part precis_runtime precis_cpu_kernels precis_schema precis_cuda_backend)
  list(APPEND _precis_objects $<TARGET_OBJECTS:${part}>)
endforeach()

add_library(precis_runtime_shared SHARED ${_precis_objects})
add_library(precis_runtime_static STATIC ${_precis_objects})
# libgomp (or the OpenMP runtime the compiler uses), by name: the static archive's users link
# it with whatever compiler they use.
set(_precis_openmp_libs "")
foreach(lib IN LISTS OpenMP_CXX_LIB_NAMES)
  if(NOT lib STREQUAL "pthread")
    list(APPEND _precis_openmp_libs ${lib})
  endif()
endforeach()
foreach(t precis_runtime_shared precis_runtime_static)
  set_target_properties(${t} PROPERTIES
    OUTPUT_NAME precis_runtime
    LINKER_LANGUAGE CXX
    ARCHIVE_OUTPUT_DIRECTORY ${_precis_dist_dir}
    LIBRARY_OUTPUT_DIRECTORY ${_precis_dist_dir})
  target_include_directories(${t} INTERFACE
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
endforeach()
set_target_properties(precis_runtime_shared PROPERTIES
  EXPORT_NAME runtime
  VERSION ${PRECIS_RUNTIME_VERSION}
  SOVERSION ${PRECIS_RUNTIME_SOVERSION})
# libmpi when the runtime has the MPI communicator (PRECIS_WITH_MPI): the shared library
# depends on it, and users of the static archive link it (the CMake package finds MPI, the
# pkg-config file names it).
set(_precis_mpi_libs "")
if(PRECIS_WITH_MPI)
  set(_precis_mpi_libs MPI::MPI_C)
endif()
target_link_libraries(precis_runtime_shared PRIVATE
  DNNL::dnnl protobuf::libprotobuf-lite ZLIB::ZLIB OpenMP::OpenMP_CXX ${_precis_mpi_libs}
  ${CMAKE_DL_LIBS})
target_link_options(precis_runtime_shared PRIVATE
  -Wl,--version-script=${_precis_cmake_dir}/precis_runtime.map)
set_target_properties(precis_runtime_shared PROPERTIES
  LINK_DEPENDS ${_precis_cmake_dir}/precis_runtime.map)
if(NOT PRECIS_SANITIZE)
  # Every symbol resolved at link time (the sanitizer runtimes resolve theirs at load time).
  target_link_options(precis_runtime_shared PRIVATE -Wl,--no-undefined)
endif()
set_target_properties(precis_runtime_static PROPERTIES EXPORT_NAME runtime_static)
target_link_libraries(precis_runtime_static INTERFACE
  DNNL::dnnl protobuf::libprotobuf-lite ZLIB::ZLIB ${_precis_openmp_libs} ${_precis_mpi_libs}
  Threads::Threads ${CMAKE_DL_LIBS})

install(TARGETS precis_runtime_shared precis_runtime_static
  EXPORT PrecisRuntimeTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/precis/runtime
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/precis
  FILES_MATCHING PATTERN "*.h")

set(_precis_config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/PrecisRuntime)
set(PRECIS_RUNTIME_WITH_MPI ${PRECIS_WITH_MPI})
install(EXPORT PrecisRuntimeTargets NAMESPACE precis:: DESTINATION ${_precis_config_dir})
configure_package_config_file(${_precis_cmake_dir}/PrecisRuntimeConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/PrecisRuntimeConfig.cmake
  INSTALL_DESTINATION ${_precis_config_dir})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/PrecisRuntimeConfigVersion.cmake
  VERSION ${PRECIS_RUNTIME_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/PrecisRuntimeConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/PrecisRuntimeConfigVersion.cmake
  ${_precis_cmake_dir}/PrecisFindDnnl.cmake
  DESTINATION ${_precis_config_dir})

# pkg-config: relative to the .pc file, so the installed tree may move.
file(RELATIVE_PATH PRECIS_PC_PREFIX_FROM_PCDIR "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
string(REGEX REPLACE "/$" "" PRECIS_PC_PREFIX_FROM_PCDIR "${PRECIS_PC_PREFIX_FROM_PCDIR}")
set(PRECIS_PC_OPENMP_LIBS "")
foreach(lib IN LISTS _precis_openmp_libs)
  string(APPEND PRECIS_PC_OPENMP_LIBS " -l${lib}")
endforeach()
string(STRIP "${PRECIS_PC_OPENMP_LIBS} -lpthread" PRECIS_PC_OPENMP_LIBS)
# MPI for static linking: its own pkg-config module where it has one (Open MPI: ompi-c,
# MPICH: mpich), else its libraries by path.
set(PRECIS_PC_MPI_REQUIRES "")
set(PRECIS_PC_MPI_LIBS "")
if(PRECIS_WITH_MPI)
  find_package(PkgConfig QUIET)
  foreach(module ompi-c mpich)
    if(PKG_CONFIG_FOUND AND NOT PRECIS_PC_MPI_REQUIRES)
      execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --exists ${module}
        RESULT_VARIABLE _precis_pc_rc OUTPUT_QUIET ERROR_QUIET)
      if(_precis_pc_rc EQUAL 0)
        set(PRECIS_PC_MPI_REQUIRES " ${module}")
      endif()
    endif()
  endforeach()
  if(NOT PRECIS_PC_MPI_REQUIRES)
    foreach(lib IN LISTS MPI_C_LIBRARIES)
      string(APPEND PRECIS_PC_MPI_LIBS " ${lib}")
    endforeach()
  endif()
endif()
configure_file(${_precis_cmake_dir}/precis-runtime.pc.in
  ${CMAKE_CURRENT_BINARY_DIR}/precis-runtime.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/precis-runtime.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
