// HmacSha256: HMAC-SHA256 with one key, through the OpenSSL that Node itself links and exports
// (EVP_MAC). The key is set once; every digest re-initialises the same context with it, so a
// datagram's MAC costs no allocation, no algorithm lookup and no JS object (node:crypto's
// createHmac does all three per call: measurable at 200 datagrams a second per node).
//   new HmacSha256(key: Uint8Array)
//   .digest(data: Uint8Array, out: Uint8Array)   writes the 32-byte MAC into out[0..32)
#pragma once

#include <napi.h>

struct evp_mac_ctx_st;

namespace afpacket {

class HmacSha256 : public Napi::ObjectWrap<HmacSha256> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit HmacSha256(const Napi::CallbackInfo& info);
  ~HmacSha256() override;

 private:
  void Digest(const Napi::CallbackInfo& info);

  evp_mac_ctx_st* ctx_ = nullptr;
};

}  // namespace afpacket
