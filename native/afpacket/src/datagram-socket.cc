#include "datagram-socket.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "args.h"
#include "errno-error.h"

namespace afpacket {
namespace {

// Datagrams per recvmmsg call, and the room for each: 64 KiB holds any UDP datagram, so none
// is ever truncated (an oversized one reaches JavaScript whole and is dropped there, counted).
constexpr unsigned kBatch = 16;
constexpr size_t kSlot = 65536;

// getaddrinfo(3) with AI_NUMERICHOST: an IP literal (a zone index like fe80::1%eth0 included),
// never a name lookup. Throws a TypeError naming the address otherwise.
sockaddr_storage ParseAddress(Napi::Env env, int family, const std::string& host, uint16_t port, socklen_t* len) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    if (res != nullptr) freeaddrinfo(res);
    throw Napi::TypeError::New(env, "not an IPv" + std::to_string(family == AF_INET6 ? 6 : 4) + " address: " + host);
  }
  sockaddr_storage ss{};
  std::memcpy(&ss, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  if (ss.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(port);
  else reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(port);
  return ss;
}

int64_t RealtimeNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

Napi::Function DatagramSocket::Init(Napi::Env env) {
  return DefineClass(env, "DatagramSocket",
                     {
                         InstanceMethod("receive", &DatagramSocket::Receive),
                         InstanceMethod("target", &DatagramSocket::Target),
                         InstanceMethod("send", &DatagramSocket::Send),
                         InstanceMethod("close", &DatagramSocket::CloseMethod),
                         InstanceAccessor("port", &DatagramSocket::GetPort, nullptr),
                         InstanceAccessor("fd", &DatagramSocket::GetFd, nullptr),
                         InstanceAccessor("closed", &DatagramSocket::GetClosed, nullptr),
                     });
}

DatagramSocket::DatagramSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DatagramSocket>(info) {
  Napi::Env env = info.Env();
  auto family = IntegerArg(info[0], "family", 4, 6);
  if (family != 4 && family != 6) throw Napi::RangeError::New(env, "family must be 4 or 6");
  if (!info[1].IsString()) throw Napi::TypeError::New(env, "host must be a string");
  auto port = static_cast<uint16_t>(IntegerArg(info[2], "port", 0, 65535));
  auto rcvbuf = static_cast<int>(IntegerArg(info[3], "rcvbuf", 0, INT32_MAX));
  family_ = family == 6 ? AF_INET6 : AF_INET;
  socklen_t len = 0;
  sockaddr_storage addr = ParseAddress(env, family_, info[1].As<Napi::String>().Utf8Value(), port, &len);

  int fd = socket(family_, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) ThrowErrno(env, "socket(SOCK_DGRAM)");
  fd_ = fd;
  int on = 1;
  int off = 0;
  if (family_ == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0) {
    int e = errno;
    Close();
    throw ErrnoError(env, e, "setsockopt(IPV6_V6ONLY)");
  }
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) < 0) {
    int e = errno;
    Close();
    throw ErrnoError(env, e, "setsockopt(SO_TIMESTAMPNS)");
  }
  // SO_RCVBUFFORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN; else SO_RCVBUF (capped).
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0) {
    int e = errno;
    Close();
    throw ErrnoError(env, e, "setsockopt(SO_RCVBUF)");
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) < 0) {
    int e = errno;
    Close();
    throw ErrnoError(env, e, "bind");
  }
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen) < 0) {
    int e = errno;
    Close();
    throw ErrnoError(env, e, "getsockname");
  }
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

DatagramSocket::~DatagramSocket() { Close(); }

void DatagramSocket::Close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

int DatagramSocket::OpenFd(Napi::Env env) const {
  if (fd_ < 0) throw ErrnoError(env, EBADF, "socket is closed");
  return fd_;
}

Napi::Value DatagramSocket::Receive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto max = static_cast<unsigned>(IntegerArg(info[0], "max", 1, 1 << 20));
  int fd = OpenFd(env);
  // new[] without () does not zero the bytes (std::vector would, touching every page).
  if (!buffers_) buffers_.reset(new uint8_t[kBatch * kSlot]);
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  sockaddr_storage from[kBatch];
  alignas(cmsghdr) char control[kBatch][CMSG_SPACE(sizeof(timespec))];
  Napi::Array data;
  Napi::Array hosts;
  Napi::Array ports;
  Napi::Array ages;
  uint32_t count = 0;
  int err = 0;
  // One reading for the whole call: ages are "before this call began" (clamped at 0 for a datagram
  // that arrived during it), so the caller can subtract them from its clock read just before.
  const int64_t now = RealtimeNs();
  while (count < max) {
    unsigned want = std::min<unsigned>(kBatch, max - count);
    for (unsigned i = 0; i < want; i++) {
      iov[i] = {buffers_.get() + i * kSlot, kSlot};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = control[i];
      msgs[i].msg_hdr.msg_controllen = sizeof control[i];
    }
    int n = recvmmsg(fd, msgs, want, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
    if (n == 0) break;
    if (count == 0) {
      data = Napi::Array::New(env);
      hosts = Napi::Array::New(env);
      ports = Napi::Array::New(env);
      ages = Napi::Array::New(env);
    }
    for (int i = 0; i < n; i++) {
      char text[INET6_ADDRSTRLEN] = "";
      uint16_t port = 0;
      const sockaddr_storage& f = from[i];
      if (f.ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(&f);
        inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
        port = ntohs(a->sin6_port);
      } else if (f.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&f);
        inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
        port = ntohs(a->sin_port);
      }
      double ageUs = 0;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c != nullptr; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          timespec ts{};
          std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
          int64_t at = static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
          ageUs = static_cast<double>(std::max<int64_t>(0, now - at)) / 1000.0;
        }
      }
      data.Set(count, Napi::Buffer<uint8_t>::Copy(env, buffers_.get() + i * kSlot, msgs[i].msg_len));
      hosts.Set(count, Napi::String::New(env, text));
      ports.Set(count, Napi::Number::New(env, port));
      ages.Set(count, Napi::Number::New(env, ageUs));
      count++;
    }
    if (static_cast<unsigned>(n) < want) break;  // the queue is empty
  }
  if (count == 0 && err == 0) return env.Null();
  Napi::Object result = Napi::Object::New(env);
  result.Set("data", count > 0 ? data : Napi::Array::New(env));
  result.Set("hosts", count > 0 ? hosts : Napi::Array::New(env));
  result.Set("ports", count > 0 ? ports : Napi::Array::New(env));
  result.Set("agesUs", count > 0 ? ages : Napi::Array::New(env));
  if (err != 0) result.Set("error", ErrnoError(env, err, "recvmmsg").Value());
  return result;
}

Napi::Value DatagramSocket::Target(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "host must be a string");
  auto port = static_cast<uint16_t>(IntegerArg(info[1], "port", 1, 65535));
  socklen_t len = 0;
  sockaddr_storage ss = ParseAddress(env, family_, info[0].As<Napi::String>().Utf8Value(), port, &len);
  return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(&ss), len);
}

Napi::Value DatagramSocket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array target = BytesArg(info[0], "target");
  Napi::Uint8Array bytes = BytesArg(info[1], "data");
  int fd = OpenFd(env);
  if (target.ByteLength() < sizeof(sockaddr_in) || target.ByteLength() > sizeof(sockaddr_storage)) {
    throw Napi::RangeError::New(env, "target must come from target()");
  }
  sockaddr_storage to{};
  std::memcpy(&to, target.Data(), target.ByteLength());
  ssize_t n;
  do {
    n = sendto(fd, bytes.Data(), bytes.ByteLength(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to),
               static_cast<socklen_t>(target.ByteLength()));
  } while (n < 0 && errno == EINTR);
  return Napi::Number::New(env, n < 0 ? errno : 0);
}

void DatagramSocket::CloseMethod(const Napi::CallbackInfo&) { Close(); }

Napi::Value DatagramSocket::GetPort(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), port_); }
Napi::Value DatagramSocket::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
Napi::Value DatagramSocket::GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), fd_ < 0); }

}  // namespace afpacket
