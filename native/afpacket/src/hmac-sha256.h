// HmacSha256: HMAC-SHA256 with one key, through the OpenSSL that Node itself links and exports
// (EVP_MAC). The key is set once; every digest re-initialises the same context with it, so a
// datagram's MAC costs no allocation, no algorithm lookup and no JS object (node:crypto's
// createHmac does all three per call: measurable at 200 datagrams a second per node).
//   new HmacSha256(key: Uint8Array)
//   .digest(data: Uint8Array, out: Uint8Array)   writes the 32-byte MAC into out[0..32)
// HmacKey is the same thing for C++ callers (DatagramSocket's beat fast path): it owns the
// EVP_MAC_CTX and frees it with itself.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <memory>

struct evp_mac_ctx_st;

namespace afpacket {

class HmacKey {
 public:
  static constexpr size_t kBytes = 32;
  // nullptr when OpenSSL cannot make the context (no HMAC in its providers, say).
  static std::unique_ptr<HmacKey> Create(const uint8_t* key, size_t length);
  ~HmacKey();
  HmacKey(const HmacKey&) = delete;
  HmacKey& operator=(const HmacKey&) = delete;

  // HMAC-SHA256(key, data[0..length)) into out[0..32); false if OpenSSL failed (out undefined).
  bool Digest(const uint8_t* data, size_t length, uint8_t out[kBytes]);

 private:
  explicit HmacKey(evp_mac_ctx_st* ctx) : ctx_(ctx) {}
  evp_mac_ctx_st* ctx_;
};

class HmacSha256 : public Napi::ObjectWrap<HmacSha256> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit HmacSha256(const Napi::CallbackInfo& info);

 private:
  void Digest(const Napi::CallbackInfo& info);

  std::unique_ptr<HmacKey> key_;
};

}  // namespace afpacket
