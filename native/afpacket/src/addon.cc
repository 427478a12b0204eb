// l2vip native addon: raw AF_PACKET and NETLINK_ROUTE sockets driven by the Node event loop, and
// the membership's UDP socket, which its owner reads at its own ticks.
// System calls and readiness only; every protocol decision is made in TypeScript (src/netdev).
#include <malloc.h>
#include <net/if.h>
#include <sys/prctl.h>
#include <napi.h>
#include <v8.h>

#include "args.h"
#include "datagram-socket.h"
#include "hmac-sha256.h"
#include "errno-error.h"
#include "netlink-socket.h"
#include "packet-socket.h"

namespace afpacket {
namespace {

// Resolved in the calling thread's network namespace (an ioctl on a socket), unlike
// /sys/class/net, which shows the namespace sysfs was mounted from.
Napi::Value IfNameToIndex(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "name must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  unsigned index = if_nametoindex(name.c_str());
  if (index == 0) ThrowErrno(info.Env(), "if_nametoindex");
  return Napi::Number::New(info.Env(), index);
}

Napi::Value IfIndexToName(const Napi::CallbackInfo& info) {
  auto index = static_cast<unsigned>(IntegerArg(info[0], "ifindex", 1, INT32_MAX));
  char name[IF_NAMESIZE];  // net/if.h: IF_NAMESIZE = 16, terminator included
  if (if_indextoname(index, name) == nullptr) ThrowErrno(info.Env(), "if_indextoname");
  return Napi::String::New(info.Env(), name);
}

// prctl(PR_SET_NAME): the calling thread's name in /proc/PID/task/TID/comm, top -H and ps -L
// (at most 15 bytes; longer names are cut).
void SetThreadName(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "name must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value().substr(0, 15);
  if (prctl(PR_SET_NAME, name.c_str(), 0, 0, 0) != 0) ThrowErrno(info.Env(), "prctl(PR_SET_NAME)");
}

// malloc_trim(3): gives the C heap's free pages back to the kernel. V8 parses and compiles in
// malloc'd zones; after start-up those are free but still resident until trimmed.
Napi::Value MallocTrim(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), malloc_trim(0) == 1);
}

// v8::Isolate::LowMemoryNotification on the calling thread's isolate: full collections that
// shrink the young generation back and free the pages start-up filled. V8 does this by itself
// only at a GC with a low allocation rate, which an idle speaker reaches after a minute or
// more. Node has no JavaScript API for it. A synchronous pause (about 5 ms for an idle
// speaker's heap), so called once, when start-up is over.
void LowMemoryNotification(const Napi::CallbackInfo&) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate != nullptr) isolate->LowMemoryNotification();
}

}  // namespace
}  // namespace afpacket

// NODE_API_MODULE wants a plain identifier.
static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  using namespace afpacket;
  exports.Set("PacketSocket", PacketSocket::Init(env));
  exports.Set("NetlinkSocket", NetlinkSocket::Init(env));
  exports.Set("DatagramSocket", DatagramSocket::Init(env));
  exports.Set("HmacSha256", HmacSha256::Init(env));
  exports.Set("ifNameToIndex", Napi::Function::New(env, IfNameToIndex, "ifNameToIndex"));
  exports.Set("ifIndexToName", Napi::Function::New(env, IfIndexToName, "ifIndexToName"));
  exports.Set("setThreadName", Napi::Function::New(env, SetThreadName, "setThreadName"));
  exports.Set("lowMemoryNotification", Napi::Function::New(env, LowMemoryNotification, "lowMemoryNotification"));
  exports.Set("mallocTrim", Napi::Function::New(env, MallocTrim, "mallocTrim"));
  return exports;
}

NODE_API_MODULE(afpacket, InitAddon)
