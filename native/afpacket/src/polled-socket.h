// Shared plumbing of PacketSocket and NetlinkSocket: owns the fd, watches it with a libuv poll
// handle on the Node event loop, and on readiness drains datagrams without blocking and hands
// them to the JavaScript property `onrecv` in one call per wakeup:
//   onrecv(null, datagrams: Buffer[], tags: Uint8Array)   tags[i] is T::ReceiveOne's per-datagram tag
//   onrecv(error)                                         a receive error (code ENETDOWN, ENOBUFS, ...)
// The callback is a property of the JS object. While the socket is open it holds a strong
// reference to its own JS object, as Node's own handles do: a socket that is waiting for data
// must not be collected just because nothing else references it (an `await` on a promise that
// only its callback resolves is such a case). close() drops that reference.
#pragma once

#include <napi.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <vector>

#include "errno-error.h"

namespace afpacket {

// Datagrams per wakeup: bounds how long one busy socket holds the event loop. The poll is
// level-triggered, so whatever is left is read on the next loop iteration.
constexpr int kMaxBatch = 256;
// 64 KiB holds any Ethernet frame (jumbo, GRO/GSO aggregates) and any netlink dump chunk
// (the kernel sizes those to at most 32 KiB: net/netlink/af_netlink.c netlink_dump).
constexpr size_t kRecvBufferSize = 65536;

inline uint8_t* RecvBuffer() {
  // One per thread: the addon may be loaded in several worker threads, each with its own loop.
  thread_local std::vector<uint8_t> buffer(kRecvBufferSize);
  return buffer.data();
}

template <typename T>
class PolledSocket : public Napi::ObjectWrap<T> {
 public:
  explicit PolledSocket(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<T>(info), async_(info.Env(), T::kResourceName) {}
  ~PolledSocket() override {
    // Reached with the reference still held only at environment teardown: never Unref then.
    referenced_ = false;
    Close();
  }

 protected:
  // Takes ownership of a fully configured non-blocking fd and starts watching it. On failure
  // the fd is closed and an ErrnoError thrown.
  void StartPolling(Napi::Env env, int fd) {
    fd_ = fd;
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Close();
      throw Napi::Error::New(env, "napi_get_uv_event_loop failed");
    }
    auto* handle = new uv_poll_t;
    int rc = uv_poll_init(loop, handle, fd);
    if (rc != 0) {
      delete handle;  // never initialised: nothing for libuv to release
      Close();
      throw ErrnoError(env, -rc, "uv_poll_init");
    }
    handle->data = this;
    poll_ = handle;
    rc = uv_poll_start(handle, UV_READABLE, OnPoll);
    if (rc != 0) {
      Close();
      throw ErrnoError(env, -rc, "uv_poll_start");
    }
    this->Ref();
    referenced_ = true;
  }

  // Idempotent. Stops the poll before closing the fd (libuv requires that order); the handle
  // itself is freed in its close callback, which may run after this object is gone.
  void Close() {
    if (poll_ != nullptr) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(poll_),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (referenced_) {
      referenced_ = false;
      this->Unref();
    }
  }

  // The fd for a method call; a closed socket throws EBADF like any syscall on a closed fd would.
  int OpenFd(Napi::Env env) const {
    if (fd_ < 0) throw ErrnoError(env, EBADF, "socket is closed");
    return fd_;
  }

  // Receive queue limit in bytes (0 keeps the default). SO_RCVBUFFORCE ignores net.core.rmem_max
  // but needs CAP_NET_ADMIN; without it, SO_RCVBUF, capped at rmem_max (socket(7)).
  void SetReceiveBuffer(Napi::Env env, int bytes) {
    if (bytes > 0 && setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0 &&
        setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) < 0) {
      ThrowErrno(env, "setsockopt(SO_RCVBUF)");
    }
  }

  void CloseMethod(const Napi::CallbackInfo&) { Close(); }
  Napi::Value GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
  Napi::Value GetClosed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), fd_ < 0);
  }

  int fd_ = -1;

 private:
  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    static_cast<T*>(handle->data)->OnReadable(status);
  }

  void OnReadable(int status) {
    Napi::Env env = this->Env();
    Napi::HandleScope scope(env);
    // A local handle to the wrapper keeps it alive while the callback runs, even if the
    // callback drops the last JS reference.
    Napi::Object self = this->Value();
    int err = 0;
    if (status < 0) {
      // libuv reports POLLERR as UV_EBADF and stops the handle (deps/uv/src/unix/poll.c
      // uv__poll_io). On these sockets POLLERR means a pending socket error: ENETDOWN when the
      // interface goes down, ENOBUFS when netlink notifications were dropped. SO_ERROR takes and
      // clears it (socket(7)); then polling resumes, so the socket works again when the
      // interface comes back.
      int pending = 0;
      socklen_t len = sizeof pending;
      bool got = getsockopt(fd_, SOL_SOCKET, SO_ERROR, &pending, &len) == 0 && pending != 0;
      err = got ? pending : -status;  // libuv error codes are negated errno values on Unix
      int rc = uv_poll_start(poll_, UV_READABLE, OnPoll);
      if (rc != 0) err = -rc;
    }
    uint8_t* buf = RecvBuffer();
    std::vector<napi_value> datagrams;
    std::vector<uint8_t> tags;
    for (int i = 0; i < kMaxBatch; i++) {
      uint8_t tag = 0;
      bool keep = true;
      ssize_t n = static_cast<T*>(this)->ReceiveOne(buf, kRecvBufferSize, &tag, &keep);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK && err == 0) err = errno;
        break;
      }
      if (!keep) continue;
      datagrams.push_back(Napi::Buffer<uint8_t>::Copy(env, buf, static_cast<size_t>(n)));
      tags.push_back(tag);
    }
    if (!datagrams.empty()) {
      Napi::Array array = Napi::Array::New(env, datagrams.size());
      for (size_t i = 0; i < datagrams.size(); i++) array.Set(static_cast<uint32_t>(i), datagrams[i]);
      Napi::Uint8Array tagArray = Napi::Uint8Array::New(env, tags.size());
      std::copy(tags.begin(), tags.end(), tagArray.Data());
      Call(env, self, {env.Null(), array, tagArray});
    }
    // The first callback may have closed the socket; then the error no longer matters.
    if (err != 0 && fd_ >= 0) Call(env, self, {ErrnoError(env, err, T::kRecvSyscall).Value()});
  }

  void Call(Napi::Env env, Napi::Object self, const std::initializer_list<napi_value>& args) {
    try {
      Napi::Value cb = self.Get("onrecv");
      if (cb.IsFunction()) cb.As<Napi::Function>().MakeCallback(self, args, async_);
    } catch (const Napi::Error& e) {
      // No JS frame is below us: report it as Node reports any exception thrown from an I/O callback.
      napi_fatal_exception(env, e.Value());
    }
  }

  uv_poll_t* poll_ = nullptr;
  bool referenced_ = false;
  Napi::AsyncContext async_;
};

}  // namespace afpacket
