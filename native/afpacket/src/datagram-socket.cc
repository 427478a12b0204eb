#include "datagram-socket.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "args.h"
#include "errno-error.h"

namespace afpacket {
namespace {

// Datagrams per recvmmsg call, and the room for each: 64 KiB holds any UDP datagram, so none
// is ever truncated (an oversized one reaches JavaScript whole and is dropped there, counted).
constexpr unsigned kBatch = 16;
constexpr size_t kSlot = 65536;

// One recvmmsg batch over `buffers` (kBatch slots of kSlot bytes): source addresses and room for
// each datagram's SO_TIMESTAMPNS stamp. Prepare() before every call (recvmmsg rewrites lengths).
struct RecvBatch {
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  sockaddr_storage from[kBatch];
  alignas(cmsghdr) char control[kBatch][CMSG_SPACE(sizeof(timespec))];

  void Prepare(uint8_t* buffers, unsigned count) {
    for (unsigned i = 0; i < count; i++) {
      iov[i] = {buffers + i * kSlot, kSlot};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = control[i];
      msgs[i].msg_hdr.msg_controllen = sizeof control[i];
    }
  }
};

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

int64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// The kernel's receive stamp (SO_TIMESTAMPNS, CLOCK_REALTIME) of a received message, or `otherwise`.
int64_t ReceiveStampNs(msghdr* h, int64_t otherwise) {
  for (cmsghdr* c = CMSG_FIRSTHDR(h); c != nullptr; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      timespec ts{};
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
    }
  }
  return otherwise;
}

// A finite number in [min, max], else a TypeError/RangeError naming it.
double NumberArg(const Napi::Value& v, const char* name, double min, double max) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max)) {
    throw Napi::RangeError::New(v.Env(), std::string(name) + " must be in " + std::to_string(min) + ".." + std::to_string(max));
  }
  return d;
}

// The beat (src/membership/wire.ts, version 4, type 4): magic, version, type, key id, receiver
// id, name length L, name (at 13), then incarnation, seq, timestamp (u64s), payload length
// (u16, 0) and the first 16 bytes of the HMAC-SHA256 of all before: 55 + L bytes.
constexpr uint16_t kMagic = 0x4C56;
constexpr uint8_t kVersion = 4;
constexpr uint8_t kTypeBeat = 4;
constexpr size_t kNameAt = 13;
constexpr size_t kBeatBytes = kNameAt + 26 + 16;  // plus L
constexpr size_t kMacBytes = 16;
constexpr uint64_t kMaxSafe = (uint64_t{1} << 53) - 1;     // Number.MAX_SAFE_INTEGER
constexpr uint64_t kMaxIncarnation = uint64_t{1} << 48;    // membership.ts MAX_INCARNATION
constexpr unsigned kRecord = 5;                             // slot, keyId, incarnation, seq, ageUs

uint16_t ReadU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t ReadU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
}
uint64_t ReadU64(const uint8_t* p) { return static_cast<uint64_t>(ReadU32(p)) << 32 | ReadU32(p + 4); }
void WriteU32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
void WriteU64(uint8_t* p, uint64_t v) {
  WriteU32(p, static_cast<uint32_t>(v >> 32));
  WriteU32(p + 4, static_cast<uint32_t>(v));
}

// Writes the beat (self, key, ids, incarnation, seq, timestamp) into out (room for kBeatBytes +
// 255); its length, or 0 if the HMAC failed.
size_t BuildBeat(uint8_t* beat, const std::string& self, HmacKey* key, uint32_t keyId, uint32_t receiver,
                 uint64_t incarnation, uint64_t seq, uint64_t timestamp) {
  const size_t length = kBeatBytes + self.size();
  beat[0] = kMagic >> 8;
  beat[1] = kMagic & 0xff;
  beat[2] = kVersion;
  beat[3] = kTypeBeat;
  WriteU32(beat + 4, keyId);
  WriteU32(beat + 8, receiver);
  beat[12] = static_cast<uint8_t>(self.size());
  std::memcpy(beat + kNameAt, self.data(), self.size());
  uint8_t* tail = beat + kNameAt + self.size();
  WriteU64(tail, incarnation);
  WriteU64(tail + 8, seq);
  WriteU64(tail + 16, timestamp);
  tail[24] = 0;
  tail[25] = 0;
  uint8_t mac[HmacKey::kBytes];
  if (!key->Digest(beat, length - kMacBytes, mac)) return 0;
  std::memcpy(beat + length - kMacBytes, mac, kMacBytes);
  return length;
}

// Engine limits: datagrams read per tick (the rest wait for the next), datagrams queued for JS.
constexpr unsigned kTickReads = 4096;
constexpr size_t kQueueLimit = 4096;

// At process exit (exit(3) runs atexit handlers, OpenSSL's among them, while engine threads may
// still run): no engine thread may be inside a tick (HMAC contexts, the fd) once this returns.
// Registered at the first startEngine, after OpenSSL's own handler, so it runs before it.
std::atomic<bool> gExiting{false};
std::atomic<int> gTicking{0};
std::once_flag gAtExitOnce;
void StopTicksAtExit() {
  gExiting.store(true);
  for (int i = 0; i < 1000 && gTicking.load() > 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// An address as 16 bytes: IPv6 as is, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), so a dual-stack
// socket's ::ffff:a.b.c.d and an IPv4 socket's a.b.c.d compare equal.
void MapV4(const void* v4, uint8_t out[16]) {
  std::memset(out, 0, 10);
  out[10] = 0xff;
  out[11] = 0xff;
  std::memcpy(out + 12, v4, 4);
}

bool SourceBytes(const sockaddr_storage& from, uint8_t out[16]) {
  if (from.ss_family == AF_INET6) {
    std::memcpy(out, &reinterpret_cast<const sockaddr_in6*>(&from)->sin6_addr, 16);
    return true;
  }
  if (from.ss_family == AF_INET) {
    MapV4(&reinterpret_cast<const sockaddr_in*>(&from)->sin_addr, out);
    return true;
  }
  return false;
}

// A sender's host: an IP literal (strict inet_pton syntax; an IPv6 zone "%eth0" is ignored).
void ParseHostBytes(Napi::Env env, const std::string& text, uint8_t out[16]) {
  std::string host = text;
  size_t zone = host.find('%');
  if (zone != std::string::npos) host.resize(zone);
  uint8_t v4[4];
  if (inet_pton(AF_INET, host.c_str(), v4) == 1) {
    if (zone != std::string::npos) throw Napi::TypeError::New(env, "not an IP address: " + text);
    MapV4(v4, out);
    return;
  }
  if (zone == text.size() - 1 || inet_pton(AF_INET6, host.c_str(), out) != 1) {
    throw Napi::TypeError::New(env, "not an IP address: " + text);
  }
}

}  // namespace

Napi::Function DatagramSocket::Init(Napi::Env env) {
  return DefineClass(env, "DatagramSocket",
                     {
                         InstanceMethod("receive", &DatagramSocket::Receive),
                         InstanceMethod("target", &DatagramSocket::Target),
                         InstanceMethod("send", &DatagramSocket::Send),
                         InstanceMethod("setBeats", &DatagramSocket::SetBeats),
                         InstanceMethod("sendBeat", &DatagramSocket::SendBeat),
                         InstanceMethod("startEngine", &DatagramSocket::StartEngine),
                         InstanceMethod("stopEngine", &DatagramSocket::StopEngineMethod),
                         InstanceMethod("engineSelf", &DatagramSocket::EngineSelf),
                         InstanceMethod("engineTargets", &DatagramSocket::EngineTargets),
                         InstanceMethod("engineSenders", &DatagramSocket::EngineSenders),
                         InstanceMethod("engineWatch", &DatagramSocket::EngineWatch),
                         InstanceMethod("engineKick", &DatagramSocket::EngineKick),
                         InstanceMethod("engineArrivals", &DatagramSocket::EngineArrivals),
                         InstanceMethod("engineNextSeq", &DatagramSocket::EngineNextSeq),
                         InstanceMethod("engineSetSeq", &DatagramSocket::EngineSetSeq),
                         InstanceMethod("engineSkip", &DatagramSocket::EngineSkip),
                         InstanceMethod("engineSendSeq", &DatagramSocket::EngineSendSeq),
                         InstanceMethod("engineStats", &DatagramSocket::EngineStats),
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
  StopEngine();
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.clear();
  }
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
  // Beat records: records[0] = 0 before anything else, so a call that throws or reads nothing
  // never leaves the previous call's count behind.
  double* records = nullptr;
  unsigned capacity = 0;
  unsigned beats = 0;
  if (beats_) {
    Napi::Float64Array array = beats_->records.Value();
    if (array.ElementLength() >= 1) {
      records = array.Data();
      records[0] = 0;
      capacity = static_cast<unsigned>(std::min<size_t>((array.ElementLength() - 1) / kRecord, UINT32_MAX));
    }
  }
  auto max = static_cast<unsigned>(IntegerArg(info[0], "max", 1, 1 << 20));
  int fd = OpenFd(env);
  Napi::Array data;
  Napi::Array hosts;
  Napi::Array ports;
  Napi::Array ages;
  uint32_t read = 0;   // datagrams read (what max bounds)
  uint32_t count = 0;  // datagrams returned (read minus the beats written to records)
  int err = 0;
  // One reading for the whole call: ages are "before this call began" (clamped at 0 for a datagram
  // that arrived during it), so the caller can subtract them from its clock read just before.
  const int64_t now = RealtimeNs();
  auto push = [&](const uint8_t* bytes, size_t length, const sockaddr_storage& f, double ageUs) {
    char text[INET6_ADDRSTRLEN] = "";
    uint16_t port = 0;
    if (f.ss_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(&f);
      inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
      port = ntohs(a->sin6_port);
    } else if (f.ss_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(&f);
      inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
      port = ntohs(a->sin_port);
    }
    if (count == 0) {
      data = Napi::Array::New(env);
      hosts = Napi::Array::New(env);
      ports = Napi::Array::New(env);
      ages = Napi::Array::New(env);
    }
    data.Set(count, Napi::Buffer<uint8_t>::Copy(env, bytes, length));
    hosts.Set(count, Napi::String::New(env, text));
    ports.Set(count, Napi::Number::New(env, port));
    ages.Set(count, Napi::Number::New(env, ageUs));
    count++;
  };
  // What the engine queued comes first: all of it while the engine runs (the socket is its own
  // then), and after it stopped, before the socket is read again.
  std::deque<Queued> queued;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const size_t take = std::min<size_t>(max, queue_.size());
    for (size_t i = 0; i < take; i++) {
      queued.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
  }
  for (const Queued& q : queued) {
    read++;
    push(q.bytes.data(), q.bytes.size(), q.from, static_cast<double>(std::max<int64_t>(0, now - q.atNs)) / 1000.0);
  }
  if (!engine_) {
    // new[] without () does not zero the bytes (std::vector would, touching every page).
    if (!buffers_) buffers_.reset(new uint8_t[kBatch * kSlot]);
    RecvBatch batch;
    mmsghdr* msgs = batch.msgs;
    const sockaddr_storage* from = batch.from;
    while (read < max) {
      unsigned want = std::min<unsigned>(kBatch, max - read);
      batch.Prepare(buffers_.get(), want);
      int n = recvmmsg(fd, msgs, want, MSG_DONTWAIT, nullptr);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
        break;
      }
      if (n == 0) break;
      for (int i = 0; i < n; i++) {
        read++;
        const uint8_t* bytes = buffers_.get() + i * kSlot;
        const int64_t at = ReceiveStampNs(&msgs[i].msg_hdr, now);
        const double ageUs = static_cast<double>(std::max<int64_t>(0, now - at)) / 1000.0;
        if (beats < capacity) {
          double* r = records + 1 + beats * kRecord;
          // No engine runs (engine_ is null), so nothing else uses the HMAC contexts.
          if (AcceptBeat(bytes, msgs[i].msg_len, from[i], now, r)) {
            r[4] = ageUs;
            records[0] = ++beats;
            continue;
          }
        }
        push(bytes, msgs[i].msg_len, from[i], ageUs);
      }
      if (static_cast<unsigned>(n) < want) break;  // the queue is empty
    }
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

HmacKey* DatagramSocket::BeatKeyFor(uint32_t id) const {
  for (const BeatKey& k : beats_->keys) {
    if (k.id == id) return k.hmac.get();
  }
  return nullptr;
}

// The checks of src/membership/wire.ts decodeMessage and membership.ts receiveChecked that a
// beat must pass, cheapest first and the MAC last. `out`: slot, key id, incarnation, seq.
bool DatagramSocket::AcceptBeat(const uint8_t* d, size_t n, const sockaddr_storage& from, int64_t nowNs,
                                double out[4]) const {
  const BeatConfig& c = *beats_;
  if (n < kNameAt || ReadU16(d) != kMagic || d[2] != kVersion || d[3] != kTypeBeat) return false;
  const size_t nameLen = d[12];
  if (nameLen == 0 || n != kBeatBytes + nameLen) return false;
  const uint8_t* tail = d + kNameAt + nameLen;  // incarnation, seq, timestamp, payload length
  if (ReadU16(tail + 24) != 0) return false;
  if (ReadU32(d + 8) != c.selfId) return false;
  std::string_view name(reinterpret_cast<const char*>(d + kNameAt), nameLen);
  if (name == c.self) return false;
  auto slot = c.slots.find(name);
  if (slot == c.slots.end()) return false;
  const BeatSender& sender = c.senders[slot->second];
  if (!sender.anySource) {
    uint8_t source[16];
    if (!SourceBytes(from, source) || std::memcmp(source, sender.address, 16) != 0) return false;
  }
  const uint64_t incarnation = ReadU64(tail);
  const uint64_t seq = ReadU64(tail + 8);
  const uint64_t timestamp = ReadU64(tail + 16);
  if (incarnation > kMaxIncarnation || seq > kMaxSafe || timestamp > kMaxSafe) return false;
  if (c.checkSkew) {
    const int64_t skew = static_cast<int64_t>(timestamp) - nowNs / 1000000;
    if (!(static_cast<double>(skew < 0 ? -skew : skew) <= c.maxSkewMs)) return false;
  }
  const uint32_t keyId = ReadU32(d + 4);
  HmacKey* key = BeatKeyFor(keyId);
  if (key == nullptr) return false;
  uint8_t mac[HmacKey::kBytes];
  if (!key->Digest(d, n - kMacBytes, mac) || CRYPTO_memcmp(mac, d + n - kMacBytes, kMacBytes) != 0) return false;
  out[0] = slot->second;
  out[1] = keyId;
  out[2] = static_cast<double>(incarnation);
  out[3] = static_cast<double>(seq);
  return true;
}

void DatagramSocket::SetBeats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info[0].IsNull()) {
    std::unique_ptr<BeatConfig> old;
    {
      std::lock_guard<std::mutex> lock(mu_);
      old = std::move(beats_);
      slotState_.clear();
    }
    return;  // old (its records reference) is freed here, outside the lock
  }
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "beat config must be an object or null");
  Napi::Object o = info[0].As<Napi::Object>();
  // Built whole before it replaces the current one: a config that throws changes nothing.
  auto c = std::make_unique<BeatConfig>();
  Napi::Uint8Array self = BytesArg(o.Get("self"), "self");
  if (self.ByteLength() < 1 || self.ByteLength() > 255) throw Napi::RangeError::New(env, "self must be 1..255 bytes");
  c->self.assign(reinterpret_cast<const char*>(self.Data()), self.ByteLength());
  c->selfId = static_cast<uint32_t>(IntegerArg(o.Get("selfId"), "selfId", 0, UINT32_MAX));

  Napi::Value keys = o.Get("keys");
  if (!keys.IsArray()) throw Napi::TypeError::New(env, "keys must be an array");
  Napi::Array keyArray = keys.As<Napi::Array>();
  for (uint32_t i = 0; i < keyArray.Length(); i++) {
    std::string at = "keys[" + std::to_string(i) + "]";
    Napi::Value k = keyArray.Get(i);
    if (!k.IsObject()) throw Napi::TypeError::New(env, at + " must be an object");
    Napi::Object ko = k.As<Napi::Object>();
    auto id = static_cast<uint32_t>(IntegerArg(ko.Get("id"), (at + ".id").c_str(), 0, UINT32_MAX));
    Napi::Uint8Array secret = BytesArg(ko.Get("secret"), (at + ".secret").c_str());
    std::unique_ptr<HmacKey> hmac = HmacKey::Create(secret.Data(), secret.ByteLength());
    if (!hmac) throw Napi::Error::New(env, "cannot create an HMAC-SHA256 context (EVP_MAC) for " + at);
    c->keys.push_back({id, std::move(hmac)});
  }

  Napi::Value senders = o.Get("senders");
  if (!senders.IsArray()) throw Napi::TypeError::New(env, "senders must be an array");
  Napi::Array senderArray = senders.As<Napi::Array>();
  const uint32_t n = senderArray.Length();
  c->names.reserve(n);
  c->senders.reserve(n);
  for (uint32_t i = 0; i < n; i++) {
    std::string at = "senders[" + std::to_string(i) + "]";
    Napi::Value s = senderArray.Get(i);
    if (!s.IsObject()) throw Napi::TypeError::New(env, at + " must be an object");
    Napi::Object so = s.As<Napi::Object>();
    Napi::Uint8Array name = BytesArg(so.Get("name"), (at + ".name").c_str());
    if (name.ByteLength() < 1 || name.ByteLength() > 255) throw Napi::RangeError::New(env, at + ".name must be 1..255 bytes");
    c->names.emplace_back(reinterpret_cast<const char*>(name.Data()), name.ByteLength());
    BeatSender sender{};
    Napi::Value host = so.Get("host");
    if (host.IsNull()) {
      sender.anySource = true;
    } else if (host.IsString()) {
      ParseHostBytes(env, host.As<Napi::String>().Utf8Value(), sender.address);
    } else {
      throw Napi::TypeError::New(env, at + ".host must be a string or null");
    }
    c->senders.push_back(sender);
  }
  // names is complete (no more reallocation): the map's keys may point into it.
  for (uint32_t i = 0; i < n; i++) c->slots.emplace(std::string_view(c->names[i]), i);  // the first of equal names wins

  Napi::Value skew = o.Get("maxClockSkewMs");
  if (!skew.IsNull()) {
    if (!skew.IsNumber()) throw Napi::TypeError::New(env, "maxClockSkewMs must be a number or null");
    double ms = skew.As<Napi::Number>().DoubleValue();
    if (!(ms >= 0)) throw Napi::RangeError::New(env, "maxClockSkewMs must be >= 0");
    c->checkSkew = true;
    c->maxSkewMs = ms;
  }

  Napi::Value records = o.Get("records");
  if (!records.IsTypedArray() || records.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(env, "records must be a Float64Array");
  }
  Napi::Float64Array recordArray = records.As<Napi::Float64Array>();
  if (recordArray.ElementLength() < 1) throw Napi::RangeError::New(env, "records must hold at least 1 element");
  c->records = Napi::Persistent(recordArray);
  // The engine's per-slot state follows each sender's name to its new slot.
  std::vector<SlotState> state(n);
  std::lock_guard<std::mutex> lock(mu_);
  if (beats_) {
    for (uint32_t i = 0; i < n; i++) {
      auto at = c->slots.find(std::string_view(c->names[i]));
      if (at == c->slots.end() || at->second != i) continue;  // a later duplicate name: a slot of its own
      auto was = beats_->slots.find(at->first);
      if (was != beats_->slots.end() && was->second < slotState_.size()) state[i] = slotState_[was->second];
    }
  }
  slotState_ = std::move(state);
  // Targets follow their receiver's name to its new slot too; one whose name left goes.
  if (beats_) {
    std::vector<EngineTarget> kept;
    for (const EngineTarget& t : targets_) {
      if (t.slot >= beats_->names.size()) continue;
      auto at = c->slots.find(std::string_view(beats_->names[t.slot]));
      if (at == c->slots.end()) continue;
      EngineTarget moved = t;
      moved.slot = at->second;
      kept.push_back(moved);
    }
    targets_.swap(kept);
  } else {
    targets_.clear();
  }
  c.swap(beats_);
}  // c (the old config) is freed after the lock is released

Napi::Value DatagramSocket::SendBeat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array target = BytesArg(info[0], "target");
  auto keyId = static_cast<uint32_t>(IntegerArg(info[1], "keyId", 0, UINT32_MAX));
  auto receiver = static_cast<uint32_t>(IntegerArg(info[2], "receiverId", 0, UINT32_MAX));
  auto incarnation = static_cast<uint64_t>(IntegerArg(info[3], "incarnation", 0, kMaxSafe));
  auto seq = static_cast<uint64_t>(IntegerArg(info[4], "seq", 0, kMaxSafe));
  auto timestamp = static_cast<uint64_t>(IntegerArg(info[5], "timestampMs", 0, kMaxSafe));
  int fd = OpenFd(env);
  if (target.ByteLength() < sizeof(sockaddr_in) || target.ByteLength() > sizeof(sockaddr_storage)) {
    throw Napi::RangeError::New(env, "target must come from target()");
  }
  uint8_t beat[kBeatBytes + 255];
  size_t length;
  {
    std::lock_guard<std::mutex> lock(mu_);  // the HMAC contexts are shared with the engine thread
    if (!beats_) return Napi::Number::New(env, EINVAL);
    HmacKey* key = BeatKeyFor(keyId);
    if (key == nullptr) return Napi::Number::New(env, EINVAL);
    length = BuildBeat(beat, beats_->self, key, keyId, receiver, incarnation, seq, timestamp);
  }
  if (length == 0) return Napi::Number::New(env, EIO);
  sockaddr_storage to{};
  std::memcpy(&to, target.Data(), target.ByteLength());
  ssize_t sent;
  do {
    sent = sendto(fd, beat, length, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to), static_cast<socklen_t>(target.ByteLength()));
  } while (sent < 0 && errno == EINTR);
  return Napi::Number::New(env, sent < 0 ? errno : 0);
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


// ---------------------------------------------------------------------------------------------
// Beat engine

void DatagramSocket::CheckSlot(Napi::Env env, int64_t slot) const {
  if (slot < 0 || static_cast<uint64_t>(slot) >= slotState_.size()) {
    throw Napi::RangeError::New(env, "slot " + std::to_string(slot) + " is not a sender of the beat config (" +
                                         std::to_string(slotState_.size()) + " slots)");
  }
}

// On the JS thread: a queued wake. env is null when the function is being torn down.
void DatagramSocket::CallWake(napi_env env, napi_value onWake, void* context, void*) {
  if (env == nullptr || onWake == nullptr) return;
  auto* wake = static_cast<EngineWake*>(context);
  wake->pending.store(false);
  if (wake->stopped) return;
  napi_value global;
  if (napi_get_global(env, &global) != napi_ok) return;
  if (napi_call_function(env, global, onWake, 0, nullptr, nullptr) == napi_pending_exception) {
    // Thrown by onWake: an uncaught exception, as if thrown by a timer's callback (Node would
    // otherwise only print a deprecation warning for one left pending here).
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
}

// On the JS thread, once no call is pending and the function was released, or when its
// environment (the worker or the main thread) ends while the engine still runs: then nothing
// may use the function any more, so the thread is stopped here first.
void DatagramSocket::FinalizeWake(napi_env, void* data, void*) {
  auto* wake = static_cast<EngineWake*>(data);
  if (wake->socket != nullptr) {
    DatagramSocket* socket = wake->socket;
    socket->JoinEngine();
    socket->engine_.reset();
  }
  delete wake;
}

void DatagramSocket::JoinEngine() {
  Engine* e = engine_.get();
  if (e == nullptr) return;
  if (e->thread.joinable()) {
    uint64_t one = 1;
    ssize_t w;
    do {
      w = write(e->stopFd, &one, sizeof one);
    } while (w < 0 && errno == EINTR);
    e->thread.join();
  }
  if (e->timerFd >= 0) ::close(e->timerFd);
  if (e->stopFd >= 0) ::close(e->stopFd);
  e->timerFd = -1;
  e->stopFd = -1;
  if (e->wake != nullptr) {
    e->wake->stopped = true;
    e->wake->socket = nullptr;
  }
}

void DatagramSocket::StopEngine() {
  if (!engine_) return;
  JoinEngine();
  // Not yet finalized (FinalizeWake resets engine_ itself): ours to release; its finalizer
  // frees the wake context once any call still queued has been dropped.
  if (engine_->tsfn != nullptr) napi_release_threadsafe_function(engine_->tsfn, napi_tsfn_release);
  engine_.reset();
}

void DatagramSocket::StopEngineMethod(const Napi::CallbackInfo&) { StopEngine(); }

void DatagramSocket::StartEngine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double periodMs = NumberArg(info[0], "periodMs", 1, 3600000);
  const double jitter = NumberArg(info[1], "jitter", 0, 0.5);
  if (!info[2].IsFunction()) throw Napi::TypeError::New(env, "onWake must be a function");
  if (engine_) throw Napi::Error::New(env, "the beat engine is already running");
  int fd = OpenFd(env);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!beats_) throw Napi::Error::New(env, "the beat engine needs setBeats first");
  }
  std::call_once(gAtExitOnce, [] { std::atexit(StopTicksAtExit); });
  if (!buffers_) buffers_.reset(new uint8_t[kBatch * kSlot]);
  auto e = std::make_unique<Engine>();
  e->fd = fd;
  e->periodMs = periodMs;
  e->jitter = jitter;
  e->timerFd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (e->timerFd < 0) ThrowErrno(env, "timerfd_create");
  e->stopFd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (e->stopFd < 0) {
    int err = errno;
    ::close(e->timerFd);
    throw ErrnoError(env, err, "eventfd");
  }
  auto* wake = new EngineWake();
  napi_value name = Napi::String::New(env, "l2vip-beats");
  napi_status st = napi_create_threadsafe_function(env, info[2], nullptr, name, 0, 1, wake, FinalizeWake, wake,
                                                   CallWake, &e->tsfn);
  if (st != napi_ok) {
    delete wake;
    ::close(e->timerFd);
    ::close(e->stopFd);
    throw Napi::Error::New(env, "cannot create the beat engine's thread-safe function");
  }
  e->wake = wake;
  napi_unref_threadsafe_function(env, e->tsfn);
  Engine* raw = e.get();
  engine_ = std::move(e);
  wake->socket = this;
  try {
    raw->thread = std::thread([this, raw] { EngineLoop(raw); });
  } catch (const std::system_error& err) {
    StopEngine();
    throw Napi::Error::New(env, std::string("cannot start the beat engine thread: ") + err.what());
  }
}

void DatagramSocket::EngineLoop(Engine* e) {
  prctl(PR_SET_NAME, "l2vip-beats", 0, 0, 0);
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  auto draw = [&] { return static_cast<int64_t>(e->periodMs * (1.0 + e->jitter * unit(rng)) * 1e6); };
  auto arm = [&](int64_t due) {
    itimerspec t{};
    t.it_value.tv_sec = due / 1000000000;
    t.it_value.tv_nsec = due % 1000000000;
    timerfd_settime(e->timerFd, TFD_TIMER_ABSTIME, &t, nullptr);
  };
  int64_t due = MonotonicNs() + draw();
  arm(due);
  pollfd fds[2] = {{e->timerFd, POLLIN, 0}, {e->stopFd, POLLIN, 0}};
  for (;;) {
    int r = poll(fds, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) break;
    if ((fds[0].revents & POLLIN) == 0) continue;
    uint64_t expirations;
    if (read(e->timerFd, &expirations, sizeof expirations) < 0) continue;  // EAGAIN: not due after all
    gTicking.fetch_add(1);
    if (gExiting.load()) {
      gTicking.fetch_sub(1);
      break;
    }
    try {
      EngineTick(e);
    } catch (...) {
      // std::bad_alloc from the queue: that tick's work is lost, the engine goes on.
    }
    gTicking.fetch_sub(1);
    // Metronome: the next due time follows the last one, not now; after a stall of more than
    // a period (a suspended VM, a stopped process) it starts again from now instead of
    // catching up with a burst.
    const int64_t period = draw();
    const int64_t now = MonotonicNs();
    due += period;
    if (due < now - period) due = now + period;
    arm(due);
  }
}

void DatagramSocket::PushQueued(const uint8_t* bytes, size_t length, const sockaddr_storage& from, int64_t atNs) {
  if (queue_.size() >= kQueueLimit) {
    stats_.queueDrops++;
    return;
  }
  Queued q;
  q.bytes.assign(bytes, bytes + length);
  q.from = from;
  q.atNs = atNs;
  queue_.push_back(std::move(q));
  stats_.queued++;
}

void DatagramSocket::EngineTick(Engine* e) {
  // 1. Drain the socket: recvmmsg without the lock, then each batch classified under it.
  RecvBatch batch;
  mmsghdr* msgs = batch.msgs;
  const sockaddr_storage* from = batch.from;
  unsigned reads = 0;
  while (reads < kTickReads) {
    batch.Prepare(buffers_.get(), kBatch);
    int n = recvmmsg(e->fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.receiveErrors++;
    }
    if (n <= 0) break;  // drained (or failed: tried again next tick)
    reads += n;
    const int64_t realNow = RealtimeNs();
    const int64_t monoNow = MonotonicNs();
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < n; i++) {
      const uint8_t* bytes = buffers_.get() + i * kSlot;
      const size_t length = msgs[i].msg_len;
      const int64_t at = ReceiveStampNs(&msgs[i].msg_hdr, realNow);
      double beat[4];
      if (beats_ && AcceptBeat(bytes, length, from[i], realNow, beat)) {
        const auto slot = static_cast<size_t>(beat[0]);
        const auto incarnation = static_cast<int64_t>(beat[2]);
        const auto seq = static_cast<uint64_t>(beat[3]);
        if (slot < slotState_.size() && slotState_[slot].incarnation >= 0 && slotState_[slot].incarnation == incarnation) {
          SlotState& st = slotState_[slot];
          if (seq <= st.highWater) {
            stats_.staleBeats++;
          } else {
            st.highWater = seq;
            st.arrived = true;
            st.fresh = true;
            st.arrivalRealNs = at;
            // A wall clock stepped back between the stamp and now must not date it in the future.
            st.arrivalMonoNs = std::min(monoNow, monoNow - (realNow - at));
            stats_.beatsAccepted++;
          }
          continue;
        }
      }
      PushQueued(bytes, length, from[i], at);
    }
    if (static_cast<unsigned>(n) < kBatch) break;
  }

  // 2. Send: beats built under the lock (counters, HMAC contexts, targets), sent after it.
  static_assert(sizeof(Engine::Out::bytes) == kBeatBytes + 255, "room for the longest beat");
  std::vector<Engine::Out>& out = e->out;
  std::vector<mmsghdr>& sends = e->sends;
  std::vector<iovec>& sendIov = e->sendIov;
  size_t built = 0;
  uint64_t sendErrors = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t monoNow = MonotonicNs();
    const bool alive = gateOpen_ && kicked_ && static_cast<double>(monoNow - kickMonoNs_) <= watchdogMs_ * 1e6;
    if (beats_ && selfSet_ && alive && !targets_.empty()) {
      HmacKey* key = BeatKeyFor(selfKeyId_);
      if (key == nullptr) {
        sendErrors = targets_.size();  // a key id we do not hold: nothing can be sent
      } else {
        const size_t n = targets_.size();
        if (out.size() < n) {
          out.resize(n);
          sends.resize(n);
          sendIov.resize(n);
        }
        const auto timestamp = static_cast<uint64_t>(RealtimeNs() / 1000000);
        for (const EngineTarget& t : targets_) {
          if (t.slot >= slotState_.size()) {
            sendErrors++;  // its slot went with a setBeats
            continue;
          }
          // A datagram JS sent it within 1.2 periods stands in for this beat (JS ticks at most
          // 1.1 periods apart while it sends every period: then the engine sends none).
          const int64_t jsSent = slotState_[t.slot].jsSentMonoNs;
          if (jsSent != INT64_MIN && static_cast<double>(monoNow - jsSent) < 1.2 * e->periodMs * 1e6) continue;
          Engine::Out& o = out[built];
          const uint64_t seq = ++slotState_[t.slot].sendSeq;
          const size_t length = BuildBeat(o.bytes, beats_->self, key, selfKeyId_, t.receiverId, selfIncarnation_, seq, timestamp);
          if (length == 0) {
            sendErrors++;
            continue;
          }
          std::memcpy(&o.to, &t.to, t.length);
          sendIov[built] = {o.bytes, length};
          sends[built] = {};
          sends[built].msg_hdr.msg_name = &o.to;
          sends[built].msg_hdr.msg_namelen = t.length;
          sends[built].msg_hdr.msg_iov = &sendIov[built];
          sends[built].msg_hdr.msg_iovlen = 1;
          built++;
        }
      }
    }
  }
  uint64_t sent = 0;
  for (size_t i = 0; i < built;) {
    int r = sendmmsg(e->fd, sends.data() + i, static_cast<unsigned>(built - i), MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      sendErrors++;  // this one failed (a full send buffer, an unreachable network): skip it
      i++;
      continue;
    }
    sent += static_cast<unsigned>(r);
    i += static_cast<unsigned>(r);
  }

  // 3. Watch, and 4. wake JavaScript if it has something to do.
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.ticks++;
    stats_.beatsSent += sent;
    stats_.sendErrors += sendErrors;
    wake = !queue_.empty();
    if (!wake) {
      const int64_t monoNow = MonotonicNs();
      const auto limit = static_cast<int64_t>(wakeAfterMs_ * 1e6);
      for (const SlotState& st : slotState_) {
        if (!st.watched) continue;
        const int64_t since = st.arrived ? std::max(st.arrivalMonoNs, st.watchSetAtMonoNs) : st.watchSetAtMonoNs;
        if (monoNow - since > limit) {
          wake = true;
          break;
        }
      }
    }
  }
  if (wake && !e->tsfnClosing && !e->wake->pending.exchange(true)) {
    napi_status st = napi_call_threadsafe_function(e->tsfn, nullptr, napi_tsfn_nonblocking);
    if (st == napi_ok) {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.wakes++;
    } else {
      // napi_closing: the environment is ending; its finalizer stops this thread.
      if (st == napi_closing) e->tsfnClosing = true;
      e->wake->pending.store(false);
    }
  }
}

void DatagramSocket::EngineSelf(const Napi::CallbackInfo& info) {
  auto incarnation = static_cast<uint64_t>(IntegerArg(info[0], "incarnation", 0, static_cast<int64_t>(kMaxIncarnation)));
  auto keyId = static_cast<uint32_t>(IntegerArg(info[1], "keyId", 0, UINT32_MAX));
  std::lock_guard<std::mutex> lock(mu_);
  if (selfSet_ && incarnation != selfIncarnation_) {
    for (SlotState& st : slotState_) st.sendSeq = 0;
  }
  selfSet_ = true;
  selfIncarnation_ = incarnation;
  selfKeyId_ = keyId;
}

void DatagramSocket::EngineTargets(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "targets must be an array");
  Napi::Array array = info[0].As<Napi::Array>();
  std::vector<EngineTarget> targets;
  targets.reserve(array.Length());
  std::vector<int64_t> slots;
  for (uint32_t i = 0; i < array.Length(); i++) {
    std::string at = "targets[" + std::to_string(i) + "]";
    Napi::Value v = array.Get(i);
    if (!v.IsObject()) throw Napi::TypeError::New(env, at + " must be an object");
    Napi::Object o = v.As<Napi::Object>();
    Napi::Uint8Array target = BytesArg(o.Get("target"), (at + ".target").c_str());
    if (target.ByteLength() < sizeof(sockaddr_in) || target.ByteLength() > sizeof(sockaddr_storage)) {
      throw Napi::RangeError::New(env, at + ".target must come from target()");
    }
    EngineTarget t{};
    std::memcpy(&t.to, target.Data(), target.ByteLength());
    t.length = static_cast<socklen_t>(target.ByteLength());
    t.receiverId = static_cast<uint32_t>(IntegerArg(o.Get("receiverId"), (at + ".receiverId").c_str(), 0, UINT32_MAX));
    int64_t slot = IntegerArg(o.Get("slot"), (at + ".slot").c_str(), 0, UINT32_MAX);
    t.slot = static_cast<uint32_t>(slot);
    slots.push_back(slot);
    targets.push_back(t);
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (int64_t slot : slots) CheckSlot(env, slot);
  targets_.swap(targets);
  // A skip asked for a member that is no target (a ping, a probe) must not cost its first beat
  // once it becomes one; a target's stays (JS's datagram this period stands in for its beat).
  std::vector<bool> target(slotState_.size(), false);
  for (const EngineTarget& t : targets_) target[t.slot] = true;
  for (size_t i = 0; i < slotState_.size(); i++) {
    if (!target[i]) slotState_[i].jsSentMonoNs = INT64_MIN;
  }
}

void DatagramSocket::EngineSenders(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto f64 = [&](const Napi::Value& v, const char* name) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      throw Napi::TypeError::New(env, std::string(name) + " must be a Float64Array");
    }
    return v.As<Napi::Float64Array>();
  };
  Napi::Float64Array incarnations = f64(info[0], "incarnations");
  Napi::Float64Array floors = f64(info[1], "floors");
  const size_t n = incarnations.ElementLength();
  for (size_t i = 0; i < n; i++) {
    const double inc = incarnations[i];
    if (!(inc == -1 || (inc >= 0 && inc <= static_cast<double>(kMaxIncarnation) && std::floor(inc) == inc))) {
      throw Napi::RangeError::New(env, "incarnations[" + std::to_string(i) + "] must be -1 or an integer 0..2^48");
    }
  }
  for (size_t i = 0; i < floors.ElementLength(); i++) {
    const double f = floors[i];
    if (!(f >= 0 && f <= static_cast<double>(kMaxSafe) && std::floor(f) == f)) {
      throw Napi::RangeError::New(env, "floors[" + std::to_string(i) + "] must be an integer 0..2^53-1");
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (n != slotState_.size() || floors.ElementLength() != n) {
    throw Napi::RangeError::New(env, "incarnations and floors must have one entry per sender (" +
                                         std::to_string(slotState_.size()) + ")");
  }
  for (size_t i = 0; i < n; i++) {
    SlotState& st = slotState_[i];
    const auto inc = static_cast<int64_t>(incarnations[i]);
    const auto floor = static_cast<uint64_t>(floors[i]);
    if (inc != st.incarnation || floor != st.floor) {
      st.incarnation = inc;
      st.floor = floor;
      st.highWater = floor;
      // The last arrival still counts for the watch (the peer was alive then), but is not
      // reported as an arrival at the new incarnation.
      st.fresh = false;
    }
  }
}

void DatagramSocket::EngineWatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "slots must be an array");
  Napi::Array array = info[0].As<Napi::Array>();
  std::vector<int64_t> slots;
  for (uint32_t i = 0; i < array.Length(); i++) {
    slots.push_back(IntegerArg(array.Get(i), ("slots[" + std::to_string(i) + "]").c_str(), 0, UINT32_MAX));
  }
  const double wakeAfterMs = NumberArg(info[1], "wakeAfterMs", 0, 3600000);
  std::lock_guard<std::mutex> lock(mu_);
  for (int64_t slot : slots) CheckSlot(env, slot);
  const int64_t now = MonotonicNs();
  std::vector<bool> watched(slotState_.size(), false);
  for (int64_t slot : slots) watched[static_cast<size_t>(slot)] = true;
  for (size_t i = 0; i < slotState_.size(); i++) {
    SlotState& st = slotState_[i];
    if (watched[i] && !st.watched) st.watchSetAtMonoNs = now;
    st.watched = watched[i];
  }
  wakeAfterMs_ = wakeAfterMs;
}

void DatagramSocket::EngineKick(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBoolean()) throw Napi::TypeError::New(env, "open must be a boolean");
  const bool open = info[0].As<Napi::Boolean>().Value();
  const double watchdogMs = NumberArg(info[1], "watchdogMs", 0, 3600000);
  std::lock_guard<std::mutex> lock(mu_);
  gateOpen_ = open;
  watchdogMs_ = watchdogMs;
  kicked_ = true;
  kickMonoNs_ = MonotonicNs();
}

Napi::Value DatagramSocket::EngineArrivals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(env, "out must be a Float64Array");
  }
  Napi::Float64Array out = info[0].As<Napi::Float64Array>();
  double* d = out.Data();
  const size_t room = out.ElementLength() / 4;
  const int64_t now = RealtimeNs();
  size_t count = 0;
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < slotState_.size() && count < room; i++) {
    SlotState& st = slotState_[i];
    if (!st.fresh) continue;
    st.fresh = false;
    d[4 * count] = static_cast<double>(i);
    d[4 * count + 1] = static_cast<double>(std::max<int64_t>(0, now - st.arrivalRealNs)) / 1000.0;
    d[4 * count + 2] = static_cast<double>(st.incarnation);
    d[4 * count + 3] = static_cast<double>(st.highWater);
    count++;
  }
  return Napi::Number::New(env, static_cast<double>(count));
}

Napi::Value DatagramSocket::EngineNextSeq(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t slot = IntegerArg(info[0], "slot", 0, UINT32_MAX);
  std::lock_guard<std::mutex> lock(mu_);
  CheckSlot(env, slot);
  return Napi::Number::New(env, static_cast<double>(++slotState_[static_cast<size_t>(slot)].sendSeq));
}

void DatagramSocket::EngineSetSeq(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t slot = IntegerArg(info[0], "slot", 0, UINT32_MAX);
  auto seq = static_cast<uint64_t>(IntegerArg(info[1], "seq", 0, kMaxSafe));
  std::lock_guard<std::mutex> lock(mu_);
  CheckSlot(env, slot);
  slotState_[static_cast<size_t>(slot)].sendSeq = seq;
}

Napi::Value DatagramSocket::EngineSendSeq(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t slot = IntegerArg(info[0], "slot", 0, UINT32_MAX);
  std::lock_guard<std::mutex> lock(mu_);
  CheckSlot(env, slot);
  return Napi::Number::New(env, static_cast<double>(slotState_[static_cast<size_t>(slot)].sendSeq));
}

void DatagramSocket::EngineSkip(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t slot = IntegerArg(info[0], "slot", 0, UINT32_MAX);
  std::lock_guard<std::mutex> lock(mu_);
  CheckSlot(env, slot);
  slotState_[static_cast<size_t>(slot)].jsSentMonoNs = MonotonicNs();
}

Napi::Value DatagramSocket::EngineStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EngineStatsData s;
  size_t queueLength;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = stats_;
    queueLength = queue_.size();
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("ticks", static_cast<double>(s.ticks));
  o.Set("beatsSent", static_cast<double>(s.beatsSent));
  o.Set("beatsAccepted", static_cast<double>(s.beatsAccepted));
  o.Set("staleBeats", static_cast<double>(s.staleBeats));
  o.Set("queued", static_cast<double>(s.queued));
  o.Set("queueDrops", static_cast<double>(s.queueDrops));
  o.Set("wakes", static_cast<double>(s.wakes));
  o.Set("sendErrors", static_cast<double>(s.sendErrors));
  o.Set("receiveErrors", static_cast<double>(s.receiveErrors));
  o.Set("queueLength", static_cast<double>(queueLength));
  return o;
}

void DatagramSocket::CloseMethod(const Napi::CallbackInfo&) { Close(); }

Napi::Value DatagramSocket::GetPort(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), port_); }
Napi::Value DatagramSocket::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
Napi::Value DatagramSocket::GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), fd_ < 0); }

}  // namespace afpacket
