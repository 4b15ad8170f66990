// bpf(2) for the fast path (src/io/fastpath.ts): one generic entry point.
// The attribute union is packed in TypeScript (src/io/ebpf-sys.ts); this
// file only patches the user pointers the kernel needs (instructions, keys,
// values, the verifier log) into it, since JS cannot name an address, and
// makes the call. bpfClose(fd) releases a map, program or link: closing a
// link's last fd detaches the program, which is how a crashed lvsd leaves
// nothing attached.
#include <errno.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "util.h"

namespace lvsd {
namespace {

// bpfCall(cmd, attr: Buffer, ptrs: Array<[offset, Buffer]>) → the syscall's
// non-negative result (an fd or 0). A failure throws an Error with code and
// errno (ENOENT from a lookup or get-next-key is a normal answer: JS checks
// err.code).
Napi::Value BpfCall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsBuffer()) {
    throw Napi::TypeError::New(env, "bpfCall(cmd: number, attr: Buffer, ptrs?: [offset, Buffer][])");
  }
  int cmd = info[0].As<Napi::Number>().Int32Value();
  Napi::Buffer<uint8_t> attrJs = info[1].As<Napi::Buffer<uint8_t>>();
  std::vector<uint8_t> attr(attrJs.Data(), attrJs.Data() + attrJs.Length());
  if (info.Length() > 2 && info[2].IsArray()) {
    Napi::Array ptrs = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < ptrs.Length(); i++) {
      Napi::Value e = ptrs.Get(i);
      if (!e.IsArray()) throw Napi::TypeError::New(env, "bpfCall: each pointer is [offset, Buffer]");
      Napi::Array pair = e.As<Napi::Array>();
      Napi::Value o = pair.Get(0u);
      Napi::Value b = pair.Get(1u);
      if (!o.IsNumber() || !b.IsBuffer()) throw Napi::TypeError::New(env, "bpfCall: each pointer is [offset, Buffer]");
      uint32_t off = o.As<Napi::Number>().Uint32Value();
      if (off + 8 > attr.size()) throw Napi::RangeError::New(env, "bpfCall: pointer offset outside attr");
      uint64_t p = reinterpret_cast<uint64_t>(b.As<Napi::Buffer<uint8_t>>().Data());
      std::memcpy(attr.data() + off, &p, 8);
    }
  }
  long r = syscall(__NR_bpf, cmd, attr.data(), static_cast<unsigned>(attr.size()));
  int err = errno;
  // Commands that write back into attr are read by JS from the copy, failed
  // ones too: a batch lookup's last call ends with ENOENT and its count.
  std::memcpy(attrJs.Data(), attr.data(), attr.size());
  if (r < 0) ThrowErrno(env, "bpf", err, "cmd " + std::to_string(cmd));
  return Napi::Number::New(env, static_cast<double>(r));
}

Napi::Value BpfClose(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "bpfClose(fd: number)");
  close(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

}  // namespace

void InitBpf(Napi::Env env, Napi::Object exports) {
  exports.Set("bpfCall", Napi::Function::New(env, BpfCall, "bpfCall"));
  exports.Set("bpfClose", Napi::Function::New(env, BpfClose, "bpfClose"));
}

}  // namespace lvsd
