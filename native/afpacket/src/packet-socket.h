// PacketSocket: an AF_PACKET SOCK_RAW socket bound to one interface and one ethertype.
//   new PacketSocket(ifindex, protocol, filter | null, rcvbuf, onrecv)
//   .send(frame, protocol)  .setFilter(filter | null)  .addMembership(mac)  .dropMembership(mac)
//   .statistics()  .close()  .fd  .ifindex  .closed
// onrecv(null, frames, pkttypes) with pkttypes[i] the sll_pkttype of frames[i] (linux/if_packet.h:
// PACKET_HOST 0, BROADCAST 1, MULTICAST 2, OTHERHOST 3); outgoing frames are never delivered.
#pragma once

#include "polled-socket.h"

namespace afpacket {

class PacketSocket : public PolledSocket<PacketSocket> {
 public:
  static constexpr const char* kResourceName = "l2vip.PacketSocket";
  static constexpr const char* kRecvSyscall = "recvfrom(AF_PACKET)";

  static Napi::Function Init(Napi::Env env);
  explicit PacketSocket(const Napi::CallbackInfo& info);

  ssize_t ReceiveOne(uint8_t* buf, size_t cap, uint8_t* tag, bool* keep);

 private:
  void Send(const Napi::CallbackInfo& info);
  void SetFilter(const Napi::CallbackInfo& info);
  void AddMembership(const Napi::CallbackInfo& info);
  void DropMembership(const Napi::CallbackInfo& info);
  Napi::Value Statistics(const Napi::CallbackInfo& info);
  Napi::Value GetIfindex(const Napi::CallbackInfo& info);

  void ApplyFilter(Napi::Env env, const Napi::Value& filter);
  void Membership(const Napi::CallbackInfo& info, int option, const char* syscall);

  int ifindex_ = 0;
};

}  // namespace afpacket
