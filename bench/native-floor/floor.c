// The floor of a native heartbeat engine (bench/native-floor/run.sh): every 10 ms, drain the
// socket (recvmmsg), verify each datagram's HMAC-SHA256, and send a 182-byte HMAC'd datagram to each peer.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>
static EVP_MAC_CTX* ctx;
static void mac(const unsigned char* d, size_t n, unsigned char* out) {
  size_t l; EVP_MAC_init(ctx, NULL, 0, NULL); EVP_MAC_update(ctx, d, n); EVP_MAC_final(ctx, out, &l, 32);
}
int main(int argc, char** argv) {
  EVP_MAC* m = EVP_MAC_fetch(NULL, "HMAC", NULL); ctx = EVP_MAC_CTX_new(m);
  char dg[] = "SHA256"; OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, dg, 0), OSSL_PARAM_construct_end()};
  EVP_MAC_init(ctx, (const unsigned char*)"0123456789abcdef0123456789abcdef", 32, p);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7946)}; inet_pton(AF_INET, argv[1], &a.sin_addr);
  bind(fd, (void*)&a, sizeof a);
  int np = argc - 2; struct sockaddr_in peers[8];
  for (int i = 0; i < np; i++) { peers[i] = a; inet_pton(AF_INET, argv[i + 2], &peers[i].sin_addr); }
  int tf = timerfd_create(CLOCK_MONOTONIC, 0); struct itimerspec its = {{0, 10000000}, {0, 10000000}}; timerfd_settime(tf, 0, &its, 0);
  unsigned char buf[16][2048]; struct mmsghdr msgs[16]; struct iovec iov[16];
  unsigned char out[182]; uint64_t seq = 0; unsigned long bad = 0, got = 0;
  for (;;) {
    uint64_t x; if (read(tf, &x, 8) < 0) return 1;
    for (;;) {
      for (int i = 0; i < 16; i++) { iov[i].iov_base = buf[i]; iov[i].iov_len = 2048; memset(&msgs[i], 0, sizeof msgs[i]); msgs[i].msg_hdr.msg_iov = &iov[i]; msgs[i].msg_hdr.msg_iovlen = 1; }
      int n = recvmmsg(fd, msgs, 16, MSG_DONTWAIT, NULL); if (n <= 0) break;
      for (int i = 0; i < n; i++) { unsigned char h[32]; got++; if (msgs[i].msg_len < 182) { bad++; continue; } mac(buf[i], 150, h); if (memcmp(h, buf[i] + 150, 32)) bad++; }
      if (n < 16) break;
    }
    for (int i = 0; i < np; i++) { memset(out, 0, 150); memcpy(out, &seq, 8); seq++; mac(out, 150, out + 150); sendto(fd, out, 182, 0, (void*)&peers[i], sizeof peers[i]); }
    if (seq % 20000 == 0) fprintf(stderr, "got %lu bad %lu\n", got, bad);
  }
}
