//===- PassEnums.cpp - option values of the precis passes -----------------===//
//
// The generated symbolize*/stringify* functions of PassEnums.td.
//
//===----------------------------------------------------------------------===//

#include "precis/Transforms/Passes.h"

#include "precis/Transforms/PassEnums.cpp.inc"
