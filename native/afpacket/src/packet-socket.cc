#include "packet-socket.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

#include <cstring>
#include <string>
#include <vector>

#include "args.h"

namespace afpacket {

Napi::Function PacketSocket::Init(Napi::Env env) {
  return DefineClass(env, "PacketSocket",
                     {
                         InstanceMethod("send", &PacketSocket::Send),
                         InstanceMethod("setFilter", &PacketSocket::SetFilter),
                         InstanceMethod("addMembership", &PacketSocket::AddMembership),
                         InstanceMethod("dropMembership", &PacketSocket::DropMembership),
                         InstanceMethod("statistics", &PacketSocket::Statistics),
                         InstanceMethod("close", &PacketSocket::CloseMethod),
                         InstanceAccessor("fd", &PacketSocket::GetFd, nullptr),
                         InstanceAccessor("ifindex", &PacketSocket::GetIfindex, nullptr),
                         InstanceAccessor("closed", &PacketSocket::GetClosed, nullptr),
                     });
}

PacketSocket::PacketSocket(const Napi::CallbackInfo& info) : PolledSocket(info) {
  Napi::Env env = info.Env();
  // linux/netdevice.h: ifindex is a positive int.
  ifindex_ = static_cast<int>(IntegerArg(info[0], "ifindex", 1, INT32_MAX));
  auto protocol = static_cast<uint16_t>(IntegerArg(info[1], "protocol", 1, 0xffff));
  auto rcvbuf = static_cast<int>(IntegerArg(info[3], "rcvbuf", 0, INT32_MAX));
  if (!info[4].IsFunction()) throw Napi::TypeError::New(env, "onrecv must be a function");
  info.This().As<Napi::Object>().Set("onrecv", info[4]);

  // Protocol 0 at creation: the socket receives nothing until bind() names the real protocol,
  // so no unfiltered frame can be queued before the filter is attached (packet(7)).
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) ThrowErrno(env, "socket(AF_PACKET, SOCK_RAW)");
  fd_ = fd;  // from here on the destructor (or Close) releases it

  // linux/if_packet.h: PACKET_IGNORE_OUTGOING = 23 (Linux >= 4.20): frames this host sends are
  // not looped back to packet sockets. Older kernels: ReceiveOne drops PACKET_OUTGOING instead.
  int one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0 && errno != ENOPROTOOPT) {
    ThrowErrno(env, "setsockopt(PACKET_IGNORE_OUTGOING)");
  }
  if (!info[2].IsNull() && !info[2].IsUndefined()) ApplyFilter(env, info[2]);
  // Bursts (an ARP scan of a subnet) outrun the event loop for a moment; the queue absorbs them.
  SetReceiveBuffer(env, rcvbuf);

  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(protocol);
  addr.sll_ifindex = ifindex_;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) ThrowErrno(env, "bind(AF_PACKET)");
  StartPolling(env, fd);
}

ssize_t PacketSocket::ReceiveOne(uint8_t* buf, size_t cap, uint8_t* tag, bool* keep) {
  sockaddr_ll from{};
  socklen_t fromlen = sizeof from;
  // MSG_TRUNC: the return value is the real frame length even if it did not fit (packet(7)).
  ssize_t n = recvfrom(fd_, buf, cap, MSG_TRUNC, reinterpret_cast<sockaddr*>(&from), &fromlen);
  if (n < 0) return n;
  *tag = from.sll_pkttype;
  // linux/if_packet.h: PACKET_OUTGOING = 4. A safety net behind PACKET_IGNORE_OUTGOING.
  *keep = from.sll_pkttype != PACKET_OUTGOING;
  return static_cast<size_t>(n) > cap ? static_cast<ssize_t>(cap) : n;
}

void PacketSocket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array frame = BytesArg(info[0], "frame");
  // 0 lets the kernel take skb->protocol from the frame's own ethertype (af_packet.c packet_parse_headers).
  auto protocol = static_cast<uint16_t>(IntegerArg(info[1], "protocol", 0, 0xffff));
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons(protocol);
  to.sll_ifindex = ifindex_;
  ssize_t n = sendto(OpenFd(env), frame.Data(), frame.ByteLength(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  if (n < 0) ThrowErrno(env, "sendto(AF_PACKET)");
}

void PacketSocket::SetFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = OpenFd(env);
  if (info[0].IsNull() || info[0].IsUndefined()) {
    // ENOENT: no filter was attached, which is the state asked for.
    if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, nullptr, 0) < 0 && errno != ENOENT) {
      ThrowErrno(env, "setsockopt(SO_DETACH_FILTER)");
    }
    return;
  }
  ApplyFilter(env, info[0]);
}

// filter: [{code, jt, jf, k}], a classic BPF program (linux/filter.h struct sock_filter).
void PacketSocket::ApplyFilter(Napi::Env env, const Napi::Value& value) {
  if (!value.IsArray()) throw Napi::TypeError::New(env, "filter must be an array of {code, jt, jf, k}");
  Napi::Array program = value.As<Napi::Array>();
  uint32_t length = program.Length();
  // linux/bpf_common.h: BPF_MAXINSNS = 4096.
  if (length == 0 || length > BPF_MAXINSNS) {
    throw Napi::RangeError::New(env, "filter must have 1 to " + std::to_string(BPF_MAXINSNS) + " instructions");
  }
  std::vector<sock_filter> insns(length);
  for (uint32_t i = 0; i < length; i++) {
    Napi::Value item = program.Get(i);
    if (!item.IsObject()) throw Napi::TypeError::New(env, "filter[" + std::to_string(i) + "] must be {code, jt, jf, k}");
    Napi::Object insn = item.As<Napi::Object>();
    insns[i].code = static_cast<uint16_t>(IntegerArg(insn.Get("code"), "filter[].code", 0, 0xffff));
    insns[i].jt = static_cast<uint8_t>(IntegerArg(insn.Get("jt"), "filter[].jt", 0, 0xff));
    insns[i].jf = static_cast<uint8_t>(IntegerArg(insn.Get("jf"), "filter[].jf", 0, 0xff));
    // k is a u32; negative values are accepted for the ancillary offsets (SKF_AD_OFF = -0x1000).
    insns[i].k = static_cast<uint32_t>(IntegerArg(insn.Get("k"), "filter[].k", INT32_MIN, UINT32_MAX));
  }
  sock_fprog prog{static_cast<unsigned short>(length), insns.data()};
  if (setsockopt(OpenFd(env), SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
    ThrowErrno(env, "setsockopt(SO_ATTACH_FILTER)");
  }
}

void PacketSocket::AddMembership(const Napi::CallbackInfo& info) {
  Membership(info, PACKET_ADD_MEMBERSHIP, "setsockopt(PACKET_ADD_MEMBERSHIP)");
}

void PacketSocket::DropMembership(const Napi::CallbackInfo& info) {
  Membership(info, PACKET_DROP_MEMBERSHIP, "setsockopt(PACKET_DROP_MEMBERSHIP)");
}

// linux/if_packet.h: struct packet_mreq with PACKET_MR_MULTICAST = 0 programs the link-layer
// multicast address into the interface's filter; the kernel refcounts it and drops it on close.
void PacketSocket::Membership(const Napi::CallbackInfo& info, int option, const char* syscall) {
  Napi::Env env = info.Env();
  Napi::Uint8Array mac = BytesArg(info[0], "mac", ETH_ALEN);  // linux/if_ether.h: ETH_ALEN = 6
  packet_mreq mreq{};
  mreq.mr_ifindex = ifindex_;
  mreq.mr_type = PACKET_MR_MULTICAST;
  mreq.mr_alen = ETH_ALEN;
  std::memcpy(mreq.mr_address, mac.Data(), ETH_ALEN);
  if (setsockopt(OpenFd(env), SOL_PACKET, option, &mreq, sizeof mreq) < 0) ThrowErrno(env, syscall);
}

// linux/if_packet.h: PACKET_STATISTICS = 6 fills struct tpacket_stats and resets it; tp_packets
// counts every frame that passed the filter, tp_drops those lost to a full receive queue
// (net/packet/af_packet.c packet_getsockopt adds the drops into tp_packets).
Napi::Value PacketSocket::Statistics(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tpacket_stats stats{};
  socklen_t len = sizeof stats;
  if (getsockopt(OpenFd(env), SOL_PACKET, PACKET_STATISTICS, &stats, &len) < 0) {
    ThrowErrno(env, "getsockopt(PACKET_STATISTICS)");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("packets", Napi::Number::New(env, stats.tp_packets));
  out.Set("drops", Napi::Number::New(env, stats.tp_drops));
  return out;
}

Napi::Value PacketSocket::GetIfindex(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), ifindex_);
}

}  // namespace afpacket
