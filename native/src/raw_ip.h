#pragma once
#include <napi.h>

namespace lvsd {
void InitRawIp(Napi::Env env, Napi::Object exports);
}
