#pragma once
#include <napi.h>

namespace lvsd {
void InitPacketSocket(Napi::Env env, Napi::Object exports);
Napi::Value SendFrame(const Napi::CallbackInfo& info);
}  // namespace lvsd
