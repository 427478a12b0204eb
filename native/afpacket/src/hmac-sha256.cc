#include "hmac-sha256.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "args.h"

namespace afpacket {

std::unique_ptr<HmacKey> HmacKey::Create(const uint8_t* key, size_t length) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) return nullptr;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);  // the context holds its own reference
  if (ctx == nullptr) return nullptr;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  // An empty key is still a key: a NULL pointer would mean "keep the key already set" (none).
  static const uint8_t kEmpty[1] = {0};
  if (EVP_MAC_init(ctx, length > 0 ? key : kEmpty, length, params) != 1) {
    EVP_MAC_CTX_free(ctx);
    return nullptr;
  }
  return std::unique_ptr<HmacKey>(new HmacKey(ctx));
}

HmacKey::~HmacKey() { EVP_MAC_CTX_free(ctx_); }

bool HmacKey::Digest(const uint8_t* data, size_t length, uint8_t out[kBytes]) {
  size_t len = 0;
  // A NULL key re-initialises with the key set at creation (EVP_MAC_init(3)).
  return EVP_MAC_init(ctx_, nullptr, 0, nullptr) == 1 && EVP_MAC_update(ctx_, data, length) == 1 &&
         EVP_MAC_final(ctx_, out, &len, kBytes) == 1 && len == kBytes;
}

Napi::Function HmacSha256::Init(Napi::Env env) {
  return DefineClass(env, "HmacSha256", {InstanceMethod("digest", &HmacSha256::Digest)});
}

HmacSha256::HmacSha256(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HmacSha256>(info) {
  Napi::Uint8Array key = BytesArg(info[0], "key");
  key_ = HmacKey::Create(key.Data(), key.ByteLength());
  if (!key_) throw Napi::Error::New(info.Env(), "cannot create an HMAC-SHA256 context (EVP_MAC)");
}

void HmacSha256::Digest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array data = BytesArg(info[0], "data");
  Napi::Uint8Array out = BytesArg(info[1], "out");
  if (out.ByteLength() < HmacKey::kBytes) throw Napi::RangeError::New(env, "out must hold 32 bytes");
  if (!key_->Digest(data.Data(), data.ByteLength(), out.Data())) throw Napi::Error::New(env, "HMAC-SHA256 failed");
}

}  // namespace afpacket
