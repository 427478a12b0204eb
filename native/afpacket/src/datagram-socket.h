// DatagramSocket: a non-blocking UDP socket that no event loop watches. Its owner reads it when
// it chooses, e.g. once per heartbeat tick of the membership, so a datagram costs no event-loop
// wakeup of its own; the kernel's receive timestamp (SO_TIMESTAMPNS) tells when each arrived.
//   new DatagramSocket(family: 4 | 6, host: string, port: number, rcvbuf: number)
//   .receive(max) -> null | { data: Buffer[], hosts: string[], ports: number[], agesUs: number[], error?: string }
//   .target(host, port) -> Buffer     (the sockaddr send() takes: parse an address once, send often)
//   .send(target, data) -> 0 | errno  (a failed send is a lost datagram, never a throw)
//   .port  .fd  .closed  .close()
// An IPv6 socket is dual-stack (IPV6_V6ONLY off): IPv4 peers appear as ::ffff:a.b.c.d.
//
// Beat fast path (membership wire version 4, type 4: a heartbeat with nothing to say, 55 + L
// bytes, src/membership/wire.ts): the addon builds and sends beats, and reads acceptable ones
// as numbers, so the most common datagram costs no JavaScript object either way.
//   .setBeats(config | null)   null: off. config replaces any earlier one whole:
//      { self: Uint8Array (our name, 1..255 bytes), selfId: u32,
//        keys: { id: u32, secret: Uint8Array }[]          (the first of equal ids wins),
//        senders: { name: Uint8Array, host: string | null }[]   (slot = index; the first of
//                 equal names wins; host: the IP literal its beats must come from, null: any),
//        maxClockSkewMs: number | null, records: Float64Array (length >= 1) }
//      Throws TypeError/RangeError on a bad shape or host, Error if OpenSSL makes no HMAC context.
//   .receive(max) while configured: sets records[0] = 0 first, then for each acceptable beat
//      read (while records has room) writes records[1+5i .. 5+5i] = [slot, keyId, incarnation,
//      seq, ageUs] and records[0] = i + 1, instead of returning it. Every other datagram comes
//      back as before; null when there was nothing else (and no error). max counts all.
//      Acceptable: magic, version 4, type 4, L >= 1, length 55 + L, payload length 0, receiver
//      == selfId, name != self, name == some sender's name, source == that sender's host (if
//      any; IPv4-mapped equals IPv4, zones ignored), incarnation <= 2^48, seq and timestamp <
//      2^53, |timestamp - wall clock ms| <= maxClockSkewMs (if set), known key id, and the MAC
//      (checked last: garbage costs no HMAC). Anything else reaches JS, which names the reason.
//   .sendBeat(target, keyId, receiverId, incarnation, seq, timestampMs) -> 0 | errno
//      builds a beat from self and the key, one sendto; EINVAL when not configured or keyId is
//      unknown, EIO if the HMAC failed. Throws RangeError on non-integers or out-of-range values.
#pragma once

#include <napi.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hmac-sha256.h"

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
  void SetBeats(const Napi::CallbackInfo& info);
  Napi::Value SendBeat(const Napi::CallbackInfo& info);
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

  struct BeatKey {
    uint32_t id;
    std::unique_ptr<HmacKey> hmac;
  };
  struct BeatSender {
    bool anySource;
    uint8_t address[16];  // IPv6, or IPv4-mapped (::ffff:a.b.c.d)
  };
  struct BeatConfig {
    std::string self;
    uint32_t selfId = 0;
    std::vector<BeatKey> keys;
    std::vector<std::string> names;  // by slot; never resized once slots points into it
    std::vector<BeatSender> senders;  // by slot
    std::unordered_map<std::string_view, uint32_t> slots;
    bool checkSkew = false;
    double maxSkewMs = 0;
    Napi::Reference<Napi::Float64Array> records;  // re-read at each receive (data pointer, length)
  };
  // Whether data[0..length) from `from` is an acceptable beat; if so fills slot, keyId, incarnation, seq.
  bool AcceptBeat(const uint8_t* data, size_t length, const sockaddr_storage& from, int64_t nowNs, double out[4]) const;
  HmacKey* BeatKeyFor(uint32_t id) const;
  std::unique_ptr<BeatConfig> beats_;
};

}  // namespace afpacket
