#include "datagram-socket.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
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
  uint32_t read = 0;   // datagrams read (what max bounds)
  uint32_t count = 0;  // datagrams returned (read minus the beats written to records)
  int err = 0;
  // One reading for the whole call: ages are "before this call began" (clamped at 0 for a datagram
  // that arrived during it), so the caller can subtract them from its clock read just before.
  const int64_t now = RealtimeNs();
  while (read < max) {
    unsigned want = std::min<unsigned>(kBatch, max - read);
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
    for (int i = 0; i < n; i++) {
      read++;
      const uint8_t* bytes = buffers_.get() + i * kSlot;
      double ageUs = 0;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c != nullptr; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          timespec ts{};
          std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
          int64_t at = static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
          ageUs = static_cast<double>(std::max<int64_t>(0, now - at)) / 1000.0;
        }
      }
      if (beats < capacity) {
        double* r = records + 1 + beats * kRecord;
        if (AcceptBeat(bytes, msgs[i].msg_len, from[i], now, r)) {
          r[4] = ageUs;
          records[0] = ++beats;
          continue;
        }
      }
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
      if (count == 0) {
        data = Napi::Array::New(env);
        hosts = Napi::Array::New(env);
        ports = Napi::Array::New(env);
        ages = Napi::Array::New(env);
      }
      data.Set(count, Napi::Buffer<uint8_t>::Copy(env, bytes, msgs[i].msg_len));
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
    beats_.reset();
    return;
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
  beats_ = std::move(c);
}

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
  if (!beats_) return Napi::Number::New(env, EINVAL);
  HmacKey* key = BeatKeyFor(keyId);
  if (key == nullptr) return Napi::Number::New(env, EINVAL);
  const std::string& self = beats_->self;
  uint8_t beat[kBeatBytes + 255];
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
  if (!key->Digest(beat, length - kMacBytes, mac)) return Napi::Number::New(env, EIO);
  std::memcpy(beat + length - kMacBytes, mac, kMacBytes);
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

void DatagramSocket::CloseMethod(const Napi::CallbackInfo&) { Close(); }

Napi::Value DatagramSocket::GetPort(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), port_); }
Napi::Value DatagramSocket::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
Napi::Value DatagramSocket::GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), fd_ < 0); }

}  // namespace afpacket
