# PRECIS_SANITIZE: build every target of the project with sanitizers, for the test
# configurations that scripts/test-sanitizers.sh runs.
#
#   -DPRECIS_SANITIZE=address,undefined   ASan + UBSan (the whole build and test suite)
#   -DPRECIS_SANITIZE=thread              ThreadSanitizer (the runtime alone: cmake -S runtime)
#
# The flags apply to everything configured after this file is included (the top level includes
# it before any target; the runtime includes it when it is built on its own). Libraries from
# outside (LLVM/MLIR, protobuf, oneDNN) are not instrumented: ASan and UBSan check our code and
# the memory it touches; TSan sees their synchronisation only where it goes through pthreads.
# Every report is fatal (-fno-sanitize-recover), so a finding fails its test.
include_guard(GLOBAL)

set(PRECIS_SANITIZE "" CACHE STRING
    "Sanitizers for every target: address,undefined or thread (empty: none)")
if(PRECIS_SANITIZE)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "PRECIS_SANITIZE needs GCC or Clang")
  endif()
  if(PRECIS_SANITIZE MATCHES "thread" AND PRECIS_SANITIZE MATCHES "address|leak|memory")
    message(FATAL_ERROR "PRECIS_SANITIZE=${PRECIS_SANITIZE}: ThreadSanitizer cannot be combined "
                        "with AddressSanitizer; use two build directories")
  endif()
  if(PRECIS_BUILD_FUZZERS)
    message(FATAL_ERROR "PRECIS_BUILD_FUZZERS already builds with ASan and UBSan; "
                        "do not combine it with PRECIS_SANITIZE")
  endif()
  message(STATUS "Sanitizers: ${PRECIS_SANITIZE}")
  add_compile_options(-fsanitize=${PRECIS_SANITIZE} -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${PRECIS_SANITIZE})
  if(PRECIS_SANITIZE MATCHES "address" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # LLVM's headers poison and unpoison BumpPtrAllocator slabs by hand when they see an ASan
    # build (__SANITIZE_ADDRESS__, llvm/Support/Compiler.h). Debian's LLVM and MLIR libraries
    # are not built with ASan, so their inline copies of that code never unpoison what ours
    # poisoned, and every MLIRContext trips "use-after-poison" at creation. Our code must
    # agree with the libraries: compile it as LLVM's headers would for a plain build. The
    # instrumentation itself does not depend on the macro (nor does libstdc++).
    add_compile_options(-U__SANITIZE_ADDRESS__)
  endif()
endif()
