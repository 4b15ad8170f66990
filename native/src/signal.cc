// onSignal(signo, cb): a JS callback for a signal Node cannot name, such as
// the real-time ones keepalived uses (its JSON dump is SIGRTMIN+2). The
// handler only calls uv_async_send(), which libuv documents as
// async-signal-safe; the callback then runs on the event loop. The handle is
// unref'd: listening for a signal does not keep the process alive.
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <napi.h>
#include <uv.h>

#include "util.h"

namespace {

struct SignalWatch {
  uv_async_t async;
  Napi::FunctionReference cb;
};

SignalWatch* watches[_NSIG] = {};

void OnSignal(int signo) {
  if (signo > 0 && signo < _NSIG && watches[signo]) uv_async_send(&watches[signo]->async);
}

void OnAsync(uv_async_t* h) {
  auto* w = static_cast<SignalWatch*>(h->data);
  Napi::Env env = w->cb.Env();
  Napi::HandleScope scope(env);
  w->cb.Call({});
}

Napi::Value OnSignalJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) throw Napi::TypeError::New(env, "onSignal(signo: number, cb: () => void)");
  int signo = info[0].As<Napi::Number>().Int32Value();
  if (signo <= 0 || signo >= _NSIG || signo == SIGKILL || signo == SIGSTOP) throw Napi::RangeError::New(env, "onSignal: no such catchable signal");
  if (watches[signo]) {
    watches[signo]->cb = Napi::Persistent(info[1].As<Napi::Function>());
    return env.Undefined();
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) throw Napi::Error::New(env, "onSignal: no event loop");
  auto* w = new SignalWatch();
  w->cb = Napi::Persistent(info[1].As<Napi::Function>());
  w->async.data = w;
  uv_async_init(loop, &w->async, OnAsync);
  uv_unref(reinterpret_cast<uv_handle_t*>(&w->async));
  watches[signo] = w;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnSignal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(signo, &sa, nullptr) < 0) lvsd::ThrowErrno(env, "sigaction", errno, std::to_string(signo));
  return env.Undefined();
}

Napi::Value SigRtMin(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), SIGRTMIN);
}

}  // namespace

namespace lvsd {
void InitSignal(Napi::Env env, Napi::Object exports) {
  exports.Set("onSignal", Napi::Function::New(env, OnSignalJs, "onSignal"));
  exports.Set("sigRtMin", Napi::Function::New(env, SigRtMin, "sigRtMin"));
}
}  // namespace lvsd
