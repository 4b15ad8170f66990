// Shared helpers: errors that carry the syscall and errno name, interface
// look-ups, and the list of errno values the data plane treats as transient
// (returned to JS as a negative number instead of thrown, so a full queue or
// a downed link never crashes the forwarder).
#pragma once
#include <napi.h>
#include <string>
#include <cstdint>

namespace lvsd {

// Throws a JS Error: message "<syscall> <what>: <ENAME> (<strerror>)",
// properties code = "ENAME", errno = <n>, syscall = "<syscall>".
[[noreturn]] void ThrowErrno(Napi::Env env, const char* syscall, int err, const std::string& what = "");

const char* ErrnoName(int err);

// EAGAIN, EWOULDBLOCK, ENOBUFS, ENETDOWN, ENETUNREACH, EHOSTUNREACH, ENXIO,
// EINTR, ECONNREFUSED (an ICMP error queued on a raw socket).
bool IsTransient(int err);

// Interface index by name; throws (ENODEV) when missing.
int IfIndex(Napi::Env env, const std::string& ifname);

struct IfInfo {
  int ifindex;
  uint8_t mac[6];
  int mtu;
  unsigned flags;
};
IfInfo GetIfInfo(Napi::Env env, const std::string& ifname);

std::string MacToString(const uint8_t* mac);

// Dotted quad to network-order u32; throws a TypeError on anything else.
uint32_t ParseIpv4(Napi::Env env, const std::string& s);
std::string FormatIpv4(uint32_t netOrder);

Napi::Object IfaceInfoJs(Napi::Env env, const IfInfo& info);

}  // namespace lvsd
