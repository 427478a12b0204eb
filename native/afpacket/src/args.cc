#include "args.h"

#include <cmath>
#include <string>

namespace afpacket {

int64_t IntegerArg(const Napi::Value& v, const char* name, int64_t min, int64_t max) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (std::trunc(d) != d || d < static_cast<double>(min) || d > static_cast<double>(max)) {
    throw Napi::RangeError::New(v.Env(), std::string(name) + " must be an integer in [" +
                                             std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return static_cast<int64_t>(d);
}

Napi::Uint8Array BytesArg(const Napi::Value& v, const char* name, int64_t length) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a Uint8Array or Buffer");
  }
  Napi::Uint8Array bytes = v.As<Napi::Uint8Array>();
  if (length >= 0 && bytes.ElementLength() != static_cast<size_t>(length)) {
    throw Napi::RangeError::New(v.Env(), std::string(name) + " must be " + std::to_string(length) + " bytes long");
  }
  return bytes;
}

}  // namespace afpacket
