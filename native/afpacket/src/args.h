// Argument checks for the methods called from JavaScript: a TypeError or RangeError naming
// the argument, so misuse reads clearly.
#pragma once

#include <napi.h>

#include <cstdint>

namespace afpacket {

int64_t IntegerArg(const Napi::Value& v, const char* name, int64_t min, int64_t max);

// A Uint8Array (Buffer included) of exactly `length` bytes, or of any length if length < 0.
Napi::Uint8Array BytesArg(const Napi::Value& v, const char* name, int64_t length = -1);

}  // namespace afpacket
