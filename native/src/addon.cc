// lvsd_native: packet I/O for the userspace IPVS (see DESIGN.md, "The data plane").
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <sched.h>
#include <unistd.h>

#include "packet_socket.h"
#include "netlink.h"
#include "raw_ip.h"
#include "util.h"

namespace lvsd { void InitSignal(Napi::Env env, Napi::Object exports); }
namespace lvsd { void InitNfqueue(Napi::Env env, Napi::Object exports); }
namespace lvsd { void InitBpf(Napi::Env env, Napi::Object exports); }

namespace {

Napi::Value IfaceInfo(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "ifaceInfo(ifname: string)");
  return lvsd::IfaceInfoJs(info.Env(), lvsd::GetIfInfo(info.Env(), info[0].As<Napi::String>()));
}

// netnsOpen(path) → fd, netnsSet(fd), netnsClose(fd): switch the CALLING
// THREAD's network namespace. Sockets keep the namespace they were made in, so
// one process (a test, the lab) can hold sockets in several namespaces.
Napi::Value NetnsOpen(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "netnsOpen(path: string)");
  std::string path = info[0].As<Napi::String>();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) lvsd::ThrowErrno(info.Env(), "open", errno, path);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value NetnsSet(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "netnsSet(fd: number)");
  if (setns(info[0].As<Napi::Number>().Int32Value(), CLONE_NEWNET) < 0) lvsd::ThrowErrno(info.Env(), "setns", errno, "CLONE_NEWNET");
  return info.Env().Undefined();
}

Napi::Value NetnsClose(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "netnsClose(fd: number)");
  close(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  lvsd::InitPacketSocket(env, exports);
  lvsd::InitRawIp(env, exports);
  lvsd::InitNetlink(env, exports);
  lvsd::InitSignal(env, exports);
  lvsd::InitNfqueue(env, exports);
  lvsd::InitBpf(env, exports);
  exports.Set("ifaceInfo", Napi::Function::New(env, IfaceInfo, "ifaceInfo"));
  exports.Set("netnsOpen", Napi::Function::New(env, NetnsOpen, "netnsOpen"));
  exports.Set("netnsSet", Napi::Function::New(env, NetnsSet, "netnsSet"));
  exports.Set("netnsClose", Napi::Function::New(env, NetnsClose, "netnsClose"));
  return exports;
}

}  // namespace

NODE_API_MODULE(lvsd_native, Init)
