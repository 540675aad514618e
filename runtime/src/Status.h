//===- Status.h - runtime error values (forwarding header) -------*- C++ -*-===//
//
// Status is part of the public C++ API (Session.h returns it), so it lives in
// include/precis/runtime/Status.h. This header keeps `#include "Status.h"` working inside src/.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_SRC_STATUS_H
#define PRECIS_RUNTIME_SRC_STATUS_H

#include "precis/runtime/Status.h"

#endif // PRECIS_RUNTIME_SRC_STATUS_H
