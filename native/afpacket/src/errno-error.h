// Errors thrown to JavaScript from failed system calls: a plain Error whose `code` is the errno
// name ('EPERM', 'ENODEV', ...), `errno` the number and `syscall` the call that failed, the
// shape Node's own fs/net errors have.
#pragma once

#include <napi.h>

#include <string>

namespace afpacket {

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall);

// Throws ErrnoError(env, errno, syscall) as a C++ exception (node-addon-api turns it into a JS throw).
[[noreturn]] void ThrowErrno(Napi::Env env, const char* syscall);

}  // namespace afpacket
