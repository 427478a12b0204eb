#include "netlink-socket.h"

#include <linux/netlink.h>
#include <sys/socket.h>

#include "args.h"

namespace afpacket {

Napi::Function NetlinkSocket::Init(Napi::Env env) {
  return DefineClass(env, "NetlinkSocket",
                     {
                         InstanceMethod("send", &NetlinkSocket::Send),
                         InstanceMethod("close", &NetlinkSocket::CloseMethod),
                         InstanceAccessor("fd", &NetlinkSocket::GetFd, nullptr),
                         InstanceAccessor("portId", &NetlinkSocket::GetPortId, nullptr),
                         InstanceAccessor("closed", &NetlinkSocket::GetClosed, nullptr),
                     });
}

NetlinkSocket::NetlinkSocket(const Napi::CallbackInfo& info) : PolledSocket(info) {
  Napi::Env env = info.Env();
  // The legacy group bitmask of sockaddr_nl covers groups 1..32 (netlink(7)), enough for RTMGRP_*.
  auto groups = static_cast<uint32_t>(IntegerArg(info[0], "groups", 0, UINT32_MAX));
  auto rcvbuf = static_cast<int>(IntegerArg(info[1], "rcvbuf", 0, INT32_MAX));
  if (!info[2].IsFunction()) throw Napi::TypeError::New(env, "onrecv must be a function");
  info.This().As<Napi::Object>().Set("onrecv", info[2]);

  // linux/netlink.h: NETLINK_ROUTE = 0.
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) ThrowErrno(env, "socket(AF_NETLINK, NETLINK_ROUTE)");
  fd_ = fd;

  // A bigger queue makes ENOBUFS (lost notifications) rare during link storms.
  SetReceiveBuffer(env, rcvbuf);

  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_pid = 0;  // the kernel assigns a unique port id
  addr.nl_groups = groups;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) ThrowErrno(env, "bind(AF_NETLINK)");
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) ThrowErrno(env, "getsockname(AF_NETLINK)");
  port_id_ = addr.nl_pid;
  StartPolling(env, fd);
}

ssize_t NetlinkSocket::ReceiveOne(uint8_t* buf, size_t cap, uint8_t* tag, bool* keep) {
  sockaddr_nl from{};
  socklen_t fromlen = sizeof from;
  ssize_t n = recvfrom(fd_, buf, cap, MSG_TRUNC, reinterpret_cast<sockaddr*>(&from), &fromlen);
  if (n < 0) return n;
  if (static_cast<size_t>(n) > cap) {
    // A truncated netlink datagram cannot be parsed; report it like a lost one.
    errno = EMSGSIZE;
    return -1;
  }
  *tag = 0;
  // Only the kernel (port 0) speaks for rtnetlink; anything else is another process.
  *keep = from.nl_pid == 0;
  return n;
}

void NetlinkSocket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array request = BytesArg(info[0], "request");
  sockaddr_nl to{};
  to.nl_family = AF_NETLINK;  // nl_pid 0, nl_groups 0: the kernel
  ssize_t n = sendto(OpenFd(env), request.Data(), request.ByteLength(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  if (n < 0) ThrowErrno(env, "sendto(AF_NETLINK)");
}

Napi::Value NetlinkSocket::GetPortId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), port_id_);
}

}  // namespace afpacket
