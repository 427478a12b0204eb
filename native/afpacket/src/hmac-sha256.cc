#include "hmac-sha256.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "args.h"

namespace afpacket {

Napi::Function HmacSha256::Init(Napi::Env env) {
  return DefineClass(env, "HmacSha256", {InstanceMethod("digest", &HmacSha256::Digest)});
}

HmacSha256::HmacSha256(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HmacSha256>(info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array key = BytesArg(info[0], "key");
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) throw Napi::Error::New(env, "EVP_MAC_fetch(HMAC) failed");
  ctx_ = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);  // the context holds its own reference
  if (ctx_ == nullptr) throw Napi::Error::New(env, "EVP_MAC_CTX_new failed");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx_, key.Data(), key.ByteLength(), params) != 1) {
    // A constructor that throws runs no destructor: free the context here.
    EVP_MAC_CTX_free(ctx_);
    ctx_ = nullptr;
    throw Napi::Error::New(env, "EVP_MAC_init(HMAC-SHA256) failed");
  }
}

HmacSha256::~HmacSha256() { EVP_MAC_CTX_free(ctx_); }

void HmacSha256::Digest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array data = BytesArg(info[0], "data");
  Napi::Uint8Array out = BytesArg(info[1], "out");
  if (out.ByteLength() < 32) throw Napi::RangeError::New(env, "out must hold 32 bytes");
  size_t len = 0;
  // A NULL key re-initialises with the key set at construction (EVP_MAC_init(3)).
  if (EVP_MAC_init(ctx_, nullptr, 0, nullptr) != 1 || EVP_MAC_update(ctx_, data.Data(), data.ByteLength()) != 1 ||
      EVP_MAC_final(ctx_, out.Data(), &len, 32) != 1 || len != 32) {
    throw Napi::Error::New(env, "HMAC-SHA256 failed");
  }
}

}  // namespace afpacket
