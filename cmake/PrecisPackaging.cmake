# Installing and packaging the whole project: `cmake --install build --prefix P` puts the tools
# (bin/precis, bin/precis-opt, bin/precis-rt) next to the runtime's library, headers, CMake
# package and pkg-config file (runtime/cmake/PrecisRuntimeInstall.cmake); the compiler's own
# libraries are internal to the tools and not installed. `cpack -G DEB` in the build directory
# makes a Debian package of the same tree under /usr.
include(GNUInstallDirs)

install(TARGETS precis precis-opt precis-rt RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

get_directory_property(PRECIS_VERSION DIRECTORY runtime DEFINITION PRECIS_RUNTIME_VERSION)
set(CPACK_PACKAGE_NAME precis)
set(CPACK_PACKAGE_VERSION ${PRECIS_VERSION})
set(CPACK_PACKAGE_VENDOR "precis")
set(CPACK_PACKAGE_CONTACT "precis maintainers <precis@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Mixed-precision compiler and runtime for ONNX training and inference")
set(CPACK_PACKAGE_DESCRIPTION
    "precis compiles ONNX models (forward graph with the loss inside) into artifacts that train
and run in mixed precision (bf16, fp16, fp8) on the CPU or an NVIDIA GPU. This package holds
the tools (precis, precis-opt, precis-rt) and the runtime library (shared and static), its C
and C++ headers, CMake package (find_package(PrecisRuntime)) and pkg-config file.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
# Run-time library dependencies from the binaries (dpkg-shlibdeps, in dpkg-dev); the headers
# of the static library's dependencies for building against it.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libdnnl-dev, libprotobuf-dev, zlib1g-dev")
get_directory_property(_precis_with_mpi DIRECTORY runtime DEFINITION PRECIS_WITH_MPI)
if(_precis_with_mpi)
  # The static library's users link libmpi (Open MPI, as Debian packages it).
  string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ", libopenmpi-dev")
endif()
include(CPack)
