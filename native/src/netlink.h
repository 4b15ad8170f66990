#pragma once
#include <napi.h>

namespace lvsd {
void InitNetlink(Napi::Env env, Napi::Object exports);
}
