#include "errno-error.h"

#include <cerrno>
#include <cstring>

namespace afpacket {

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall) {
  // glibc >= 2.32: strerrorname_np gives the symbolic name ("ENODEV"), nullptr if unknown.
  const char* name = strerrorname_np(err);
  std::string code = name != nullptr ? name : "E" + std::to_string(err);
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + ": " + std::strerror(err) + " (" + code + ")");
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

void ThrowErrno(Napi::Env env, const char* syscall) {
  throw ErrnoError(env, errno, syscall);
}

}  // namespace afpacket
