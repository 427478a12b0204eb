// NetlinkSocket: an AF_NETLINK NETLINK_ROUTE socket, bound to a set of multicast groups.
//   new NetlinkSocket(groups, rcvbuf, onrecv)
//   .send(request)  .close()  .fd  .portId  .closed
// onrecv(null, datagrams, tags): each datagram holds one or more nlmsghdr-framed messages,
// unparsed; tags are all 0. Only datagrams from the kernel (nl_pid 0) are delivered.
// onrecv(error) with code ENOBUFS means the kernel dropped notifications: resynchronise.
#pragma once

#include "polled-socket.h"

namespace afpacket {

class NetlinkSocket : public PolledSocket<NetlinkSocket> {
 public:
  static constexpr const char* kResourceName = "l2vip.NetlinkSocket";
  static constexpr const char* kRecvSyscall = "recvfrom(AF_NETLINK)";

  static Napi::Function Init(Napi::Env env);
  explicit NetlinkSocket(const Napi::CallbackInfo& info);

  ssize_t ReceiveOne(uint8_t* buf, size_t cap, uint8_t* tag, bool* keep);

 private:
  void Send(const Napi::CallbackInfo& info);
  Napi::Value GetPortId(const Napi::CallbackInfo& info);

  uint32_t port_id_ = 0;
};

}  // namespace afpacket
