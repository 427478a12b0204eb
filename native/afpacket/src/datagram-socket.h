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
//
// Beat engine: one thread per socket (named l2vip-beats) that does the fast failure detector's
// periodic work, so JavaScript wakes only for what needs it. "Slots" index the senders of the
// current setBeats config. At each tick (period drawn anew from periodMs x [1 - jitter, 1 +
// jitter], due times following each other like a metronome; a tick more than a period late
// restarts the schedule from now) it
//   1. drains the socket (recvmmsg, at most 4096 datagrams a tick): an acceptable beat (the
//      rules above) at the slot's registered incarnation with seq > the slot's high-water mark
//      is accepted (high-water = seq, arrival = its kernel stamp); one at or below it is dropped
//      (staleBeats); everything else (an acceptable beat at another incarnation included) is
//      queued for receive() with its source and kernel stamp (at most 4096; then queueDrops);
//   2. sends a beat (seq = ++counter[slot], engineSelf's incarnation and key, wall-clock ms) to
//      every engineTargets target (one sendmmsg), if engineSelf was given, the gate is open and
//      the last engineKick is at most its watchdogMs old;
//   3. wakes JavaScript (onWake(), through an unref'd thread-safe function; at most one call
//      pending) if the queue is not empty or a watched slot's last accepted beat (or the time
//      it became watched, if later) is more than wakeAfterMs old (at every tick while so;
//      measured on CLOCK_MONOTONIC, so a wall-clock step neither wakes nor hides a silence).
// Config, per-slot state and queue share one mutex with the JavaScript thread's calls; no
// system call is made while it is held.
//   .startEngine(periodMs, jitter, onWake)   periodMs 1..3600000, jitter 0..0.5. Throws if
//      running, closed or setBeats is off. onWake is held (strongly) until the engine stops;
//      an exception it throws is uncaught (process 'uncaughtException'), as from a timer.
//   .stopEngine()   idempotent; joins the thread. close(), garbage collection and the end of
//      the thread (worker or process) that made the socket stop it too.
//   .engineSelf(incarnation 0..2^48, keyId u32)   a changed incarnation (from an earlier call)
//      zeroes every counter.
//   .engineTargets([{ target, receiverId, slot }])   replaces the list; counters persist.
//   .engineSenders(incarnations: Float64Array, floors: Float64Array)   one entry per slot:
//      the incarnation (-1: none, every beat of the slot is queued) and the initial high-water
//      mark; a changed incarnation or floor resets the mark to the floor (and drops the slot's
//      unreported arrival; its time still counts for the watch).
//   .engineWatch(slots: number[], wakeAfterMs)   replaces the watched set; newly watched slots
//      count from now.
//   .engineKick(open: boolean, watchdogMs)   the gate, and the JS side's proof of life.
//   .engineArrivals(out: Float64Array) -> count   for each slot with beats accepted since the
//      last call (in slot order, at most out.length / 4 of them; the rest wait for the next
//      call): out[4i] = slot, out[4i+1] = age (us) of its latest, against one wall-clock reading,
//      out[4i+2] = the incarnation it was accepted at, out[4i+3] = the slot's high-water seq.
//   A setBeats while the engine runs moves each slot's state and each target to the sender's
//   new slot by name (a target whose name left is dropped).
//   .engineNextSeq(slot) -> seq   ++counter[slot]: numbers a message JS sends that peer itself,
//      from the same sequence the engine's beats use.  .engineSetSeq(slot, seq): counter = seq.
//      (The membership numbers beats on their own and uses neither.)
//   .engineSkip(slot)   JS just sent that peer a datagram: no beat to it within 1.2 periods of
//      now (so while JS sends every period, the engine sends it nothing; engineTargets forgets
//      it for the slots that are no targets).  .engineSendSeq(slot): the last beat seq sent.
//   .engineStats() -> { ticks, beatsSent, beatsAccepted, staleBeats, queued, queueDrops, wakes,
//      sendErrors, receiveErrors, queueLength }   cumulative counts (queueLength: queued now).
//   While the engine runs, receive(max) returns queued datagrams (never reading the socket),
//   setting records[0] = 0; after it stops, queued datagrams come first, then the socket's.
//   A setBeats while the engine runs applies at once; per-slot state (incarnation, high-water,
//   arrival, counter, watch) follows a sender's name to its new slot, a new name starts afresh;
//   targets keep their slot numbers (call engineTargets again if slots moved).
#pragma once

#include <napi.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
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
  void StartEngine(const Napi::CallbackInfo& info);
  void StopEngineMethod(const Napi::CallbackInfo& info);
  void EngineSelf(const Napi::CallbackInfo& info);
  void EngineTargets(const Napi::CallbackInfo& info);
  void EngineSenders(const Napi::CallbackInfo& info);
  void EngineWatch(const Napi::CallbackInfo& info);
  void EngineKick(const Napi::CallbackInfo& info);
  Napi::Value EngineArrivals(const Napi::CallbackInfo& info);
  Napi::Value EngineNextSeq(const Napi::CallbackInfo& info);
  void EngineSetSeq(const Napi::CallbackInfo& info);
  void EngineSkip(const Napi::CallbackInfo& info);
  Napi::Value EngineSendSeq(const Napi::CallbackInfo& info);
  Napi::Value EngineStats(const Napi::CallbackInfo& info);
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
  // Uses the keys' HMAC contexts: hold mu_ (or be sure no engine runs).
  bool AcceptBeat(const uint8_t* data, size_t length, const sockaddr_storage& from, int64_t nowNs, double out[4]) const;
  HmacKey* BeatKeyFor(uint32_t id) const;
  std::unique_ptr<BeatConfig> beats_;  // replaced under mu_

  // --- Beat engine ---
  // What the thread-safe function's callbacks share; owned by it (freed by its finalizer), so a
  // wake still queued when the socket is gone touches no freed memory.
  struct EngineWake {
    std::atomic<bool> pending{false};  // a call to onWake is queued: no other is made
    bool stopped = false;              // JS thread only: the engine stopped, drop queued wakes
    DatagramSocket* socket = nullptr;  // JS thread only: set while the engine runs
  };
  struct Engine {
    std::thread thread;
    int fd = -1;       // the socket's, copied for the thread
    int timerFd = -1;  // CLOCK_MONOTONIC, armed at each tick's due time
    int stopFd = -1;   // eventfd: written to stop the thread
    napi_threadsafe_function tsfn = nullptr;
    EngineWake* wake = nullptr;
    double periodMs = 0;
    double jitter = 0;
    bool tsfnClosing = false;  // the thread's: a call returned napi_closing, make no more
    // The thread's send buffers: one beat, its destination and its header per target.
    struct Out {
      uint8_t bytes[55 + 255];
      sockaddr_storage to;
    };
    std::vector<Out> out;
    std::vector<mmsghdr> sends;
    std::vector<iovec> sendIov;
  };
  struct SlotState {
    int64_t incarnation = -1;  // accepted beats must carry it; -1: none
    uint64_t floor = 0;
    uint64_t highWater = 0;
    bool arrived = false;          // a beat was ever accepted (arrival* are set)
    bool fresh = false;            // ... since the last engineArrivals
    int64_t arrivalRealNs = 0;     // kernel stamp of the latest accepted beat (CLOCK_REALTIME)
    int64_t arrivalMonoNs = 0;     // the same moment on CLOCK_MONOTONIC
    uint64_t sendSeq = 0;          // the last seq sent to this slot
    int64_t jsSentMonoNs = INT64_MIN;  // JS last sent it a datagram (engineSkip): no beat within 1.2 periods of it
    bool watched = false;
    int64_t watchSetAtMonoNs = 0;
  };
  struct EngineTarget {
    sockaddr_storage to;
    socklen_t length;
    uint32_t receiverId;
    uint32_t slot;
  };
  struct Queued {
    std::vector<uint8_t> bytes;
    sockaddr_storage from;
    int64_t atNs;  // kernel receive stamp, CLOCK_REALTIME
  };
  struct EngineStatsData {
    uint64_t ticks = 0, beatsSent = 0, beatsAccepted = 0, staleBeats = 0, queued = 0, queueDrops = 0, wakes = 0,
             sendErrors = 0, receiveErrors = 0;
  };
  static void FinalizeWake(napi_env env, void* data, void* hint);
  static void CallWake(napi_env env, napi_value onWake, void* context, void* data);
  void StopEngine();
  void JoinEngine();  // stops and joins the thread, closes its fds; leaves the TSFN to the caller
  void EngineLoop(Engine* e);
  void EngineTick(Engine* e);
  void PushQueued(const uint8_t* bytes, size_t length, const sockaddr_storage& from, int64_t atNs);
  void CheckSlot(Napi::Env env, int64_t slot) const;

  std::mutex mu_;
  std::unique_ptr<Engine> engine_;  // JS thread only
  std::vector<SlotState> slotState_;  // by slot of beats_ (same length)
  std::vector<EngineTarget> targets_;
  bool selfSet_ = false;
  uint64_t selfIncarnation_ = 0;
  uint32_t selfKeyId_ = 0;
  double wakeAfterMs_ = 0;
  bool gateOpen_ = false;
  bool kicked_ = false;
  double watchdogMs_ = 0;
  int64_t kickMonoNs_ = 0;
  std::deque<Queued> queue_;
  EngineStatsData stats_;
};

}  // namespace afpacket
