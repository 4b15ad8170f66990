// The one way a socket of this addon is watched from the event loop: a
// uv_poll_t on its fd that calls back into JS, shared by PacketSocket,
// RawIpSocket/RawIp6Socket and NfqSocket (CRTP: `class X : public
// PolledSocket<X>`).
//
// What it gives every socket:
// - start(callback) / stop() / close() for JS, and CheckOpen();
// - while polling the object is Ref'd, so it is not collected out from under
//   the loop; stop() and close() Unref it;
// - the poll handle is closed with uv_close, never freed while libuv holds it;
// - an async env cleanup hook while polling: when the addon's environment
//   ends with the socket still open (a worker thread that exits or dies, lvsd
//   --workers), the hook closes the fds and the poll handle before the
//   worker's event loop goes. Without it the handle outlives the loop and
//   the process segfaults.
// - SO_ERROR handling for POLLERR (libuv stops the handle and reports
//   UV_EBADF) and the error object JS is handed for it.
//
// The derived class provides:
//   void OnPoll(int status)   called with the poll handle's status (< 0: POLLERR)
//                             while a callback is set
//   void Teardown()           StopPolling(), then free what it owns and CloseFds()
//   void CloseFds()           optional: close fd_ and any companion fds (default: fd_)
#pragma once
#include <errno.h>
#include <napi.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <initializer_list>
#include <memory>
#include <string>

#include "util.h"

namespace lvsd {

template <typename T>
class PolledSocket : public Napi::ObjectWrap<T> {
 public:
  // kind names the socket in messages ("packet socket" → "packet socket is
  // closed"); className is the JS class, for the async resource "lvsd:<className>".
  PolledSocket(const Napi::CallbackInfo& info, const char* kind, const char* className)
      : Napi::ObjectWrap<T>(info), kind_(kind), resource_(std::string("lvsd:") + className) {}

 protected:
  int fd_ = -1;
  Napi::FunctionReference cb_;

  T* Self() { return static_cast<T*>(this); }

  void CheckOpen(Napi::Env env) {
    if (fd_ < 0) {
      Napi::Error e = Napi::Error::New(env, std::string(kind_) + " is closed");
      e.Set("code", Napi::String::New(env, "ERR_SOCKET_CLOSED"));
      throw e;
    }
  }

  void CloseFds() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  // The first step of every Teardown: no more callbacks, no more Ref.
  void StopPolling() {
    StopPoll();
    if (refd_) {
      refd_ = false;
      // Only from JS context (close/stop): a finalizer never runs while ref'd.
      this->Unref();
    }
  }

  // For the derived destructor: a collected object is never ref'd, nothing to Unref.
  void TeardownCollected() {
    refd_ = false;
    Self()->Teardown();
  }

  // start(callback): level-triggered; the callback's arguments are the derived class's.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "start(callback) needs a function");
    cb_ = Napi::Persistent(info[0].As<Napi::Function>());
    if (!async_) async_ = std::make_unique<Napi::AsyncContext>(env, resource_.c_str());
    if (!poll_) {
      uv_loop_t* loop = nullptr;
      napi_get_uv_event_loop(env, &loop);
      poll_ = new uv_poll_t;
      int r = uv_poll_init(loop, poll_, fd_);
      if (r < 0) {
        delete poll_;
        poll_ = nullptr;
        ThrowErrno(env, "uv_poll_init", -r);
      }
      poll_->data = this;
      if (!cleanup_ && napi_add_async_cleanup_hook(env, &PolledSocket::OnEnvCleanup, this, &cleanup_) != napi_ok) cleanup_ = nullptr;
    }
    int r = uv_poll_start(poll_, UV_READABLE, &PolledSocket::Dispatch);
    if (r < 0) ThrowErrno(env, "uv_poll_start", -r);
    if (!refd_) {
      this->Ref();
      refd_ = true;
    }
    return env.Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopPolling();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Self()->Teardown();
    return info.Env().Undefined();
  }

  // After POLLERR (libuv stopped the handle): reads SO_ERROR, which clears a
  // pending socket error, and starts polling again if there was one, or
  // always when resumeAlways (a socket with no error queue: a POLLERR that
  // left nothing in SO_ERROR was a race, and polling again cannot spin).
  // Returns whether polling resumed; *soerr is the error read.
  bool ClearErrorAndResume(int* soerr, bool resumeAlways = false) {
    *soerr = 0;
    socklen_t sl = sizeof *soerr;
    if (fd_ >= 0) getsockopt(fd_, SOL_SOCKET, SO_ERROR, soerr, &sl);
    if (*soerr == 0 && !resumeAlways) return false;
    return poll_ && uv_poll_start(poll_, UV_READABLE, &PolledSocket::Dispatch) == 0;
  }

  // The error a readable-callback is handed for a POLLERR (PollError in
  // src/io/native.ts): code = the errno name, syscall "poll", resumed = whether
  // polling goes on by itself (false: call start() again to retry).
  Napi::Error PollError(Napi::Env env, int soerr, int status, bool resumed) {
    std::string msg = soerr ? std::string(kind_) + ": " + ErrnoName(soerr) + " (" + strerror(soerr) + ")" : std::string("uv_poll: ") + uv_strerror(status);
    Napi::Error e = Napi::Error::New(env, msg);
    e.Set("code", Napi::String::New(env, soerr ? ErrnoName(soerr) : uv_err_name(status)));
    e.Set("errno", Napi::Number::New(env, soerr ? soerr : -status));
    e.Set("syscall", Napi::String::New(env, "poll"));
    e.Set("resumed", Napi::Boolean::New(env, resumed));
    return e;
  }

  // Calls the JS callback. A throwing handler goes to process
  // 'uncaughtException', as a JS event would; returns false then.
  bool Emit(std::initializer_list<napi_value> args) {
    try {
      cb_.MakeCallback(this->Value(), args, *async_);
      return true;
    } catch (const Napi::Error& e) {
      napi_fatal_exception(this->Env(), e.Value());
      return false;
    }
  }

  // The ring sockets' callback: onReadable() when readable, onReadable(err)
  // after a POLLERR (see ClearErrorAndResume for resumeAlways).
  void EmitReadable(int status, bool resumeAlways) {
    Napi::Env env = this->Env();
    Napi::HandleScope scope(env);
    try {
      if (status < 0) {
        int soerr;
        bool resumed = ClearErrorAndResume(&soerr, resumeAlways);
        Emit({PollError(env, soerr, status, resumed).Value()});
      } else {
        Emit({});
      }
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
    }
  }

 private:
  const char* kind_;
  std::string resource_;
  uv_poll_t* poll_ = nullptr;
  std::unique_ptr<Napi::AsyncContext> async_;
  bool refd_ = false;
  napi_async_cleanup_hook_handle cleanup_ = nullptr;

  static void Dispatch(uv_poll_t* h, int status, int events) {
    T* self = static_cast<T*>(static_cast<PolledSocket*>(h->data));
    if (!self || self->cb_.IsEmpty()) return;
    self->OnPoll(status);
  }

  void StopPoll() {
    if (cleanup_) {
      napi_remove_async_cleanup_hook(cleanup_);
      cleanup_ = nullptr;
    }
    if (poll_) {
      uv_poll_stop(poll_);
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    if (!cb_.IsEmpty()) cb_.Reset();
    async_.reset();
  }

  static void OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* arg) {
    PolledSocket* self = static_cast<PolledSocket*>(arg);
    self->cleanup_ = nullptr;
    uv_poll_t* p = self->poll_;
    self->poll_ = nullptr;
    // Closed now, not whenever the finalizer runs (a packet socket leaves its fanout group).
    self->Self()->CloseFds();
    if (!p) {
      napi_remove_async_cleanup_hook(hook);
      return;
    }
    uv_poll_stop(p);
    // The environment waits for the hook's removal, so the loop runs until the handle is closed.
    p->data = hook;
    uv_close(reinterpret_cast<uv_handle_t*>(p), [](uv_handle_t* h) {
      napi_remove_async_cleanup_hook(static_cast<napi_async_cleanup_hook_handle>(h->data));
      delete reinterpret_cast<uv_poll_t*>(h);
    });
  }
};

}  // namespace lvsd
