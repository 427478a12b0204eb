// DatagramSocket: a non-blocking UDP socket that no event loop watches. Its owner reads it when
// it chooses, e.g. once per heartbeat tick of the membership, so a datagram costs no event-loop
// wakeup of its own; the kernel's receive timestamp (SO_TIMESTAMPNS) tells when each arrived.
//   new DatagramSocket(family: 4 | 6, host: string, port: number, rcvbuf: number)
//   .receive(max) -> null | { data: Buffer[], hosts: string[], ports: number[], agesUs: number[], error?: string }
//   .target(host, port) -> Buffer     (the sockaddr send() takes: parse an address once, send often)
//   .send(target, data) -> 0 | errno  (a failed send is a lost datagram, never a throw)
//   .port  .fd  .closed  .close()
// An IPv6 socket is dual-stack (IPV6_V6ONLY off): IPv4 peers appear as ::ffff:a.b.c.d.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>

namespace afpacket {

class DatagramSocket : public Napi::ObjectWrap<DatagramSocket> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit DatagramSocket(const Napi::CallbackInfo& info);
  ~DatagramSocket() override;

 private:
  Napi::Value Receive(const Napi::CallbackInfo& info);
  Napi::Value Target(const Napi::CallbackInfo& info);
  Napi::Value Send(const Napi::CallbackInfo& info);
  void CloseMethod(const Napi::CallbackInfo& info);
  Napi::Value GetPort(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  void Close();
  int OpenFd(Napi::Env env) const;

  int fd_ = -1;
  int family_ = 0;
  uint16_t port_ = 0;
  // Receive buffers of one recvmmsg batch (1 MiB), allocated at the first receive and left
  // uninitialised: a page becomes resident only when a datagram that large arrives.
  std::unique_ptr<uint8_t[]> buffers_;
};

}  // namespace afpacket
