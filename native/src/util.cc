#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

namespace lvsd {

const char* ErrnoName(int err) {
  const char* n = strerrorname_np(err);
  return n ? n : "EUNKNOWN";
}

void ThrowErrno(Napi::Env env, const char* syscall, int err, const std::string& what) {
  std::string msg = syscall;
  if (!what.empty()) msg += " " + what;
  msg += ": ";
  msg += ErrnoName(err);
  msg += " (";
  msg += strerror(err);
  msg += ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  throw e;
}

bool IsTransient(int err) {
  switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case ENOBUFS:
    case ENETDOWN:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ENXIO:
    case EINTR:
    case ECONNREFUSED:
      return true;
    default:
      return false;
  }
}

namespace {
struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() { if (fd >= 0) close(fd); }
};

void FillIfreq(Napi::Env env, struct ifreq* ifr, const std::string& ifname) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    throw Napi::TypeError::New(env, "interface name must be 1.." + std::to_string(IFNAMSIZ - 1) + " characters: '" + ifname + "'");
  }
  memset(ifr, 0, sizeof(*ifr));
  memcpy(ifr->ifr_name, ifname.data(), ifname.size());
}
}  // namespace

int IfIndex(Napi::Env env, const std::string& ifname) {
  return GetIfInfo(env, ifname).ifindex;
}

IfInfo GetIfInfo(Napi::Env env, const std::string& ifname) {
  IfInfo info{};
  Fd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (s.fd < 0) ThrowErrno(env, "socket", errno, "(AF_INET for ioctl)");
  struct ifreq ifr;
  FillIfreq(env, &ifr, ifname);
  if (ioctl(s.fd, SIOCGIFINDEX, &ifr) < 0) ThrowErrno(env, "ioctl", errno, "SIOCGIFINDEX " + ifname);
  info.ifindex = ifr.ifr_ifindex;
  FillIfreq(env, &ifr, ifname);
  if (ioctl(s.fd, SIOCGIFHWADDR, &ifr) < 0) ThrowErrno(env, "ioctl", errno, "SIOCGIFHWADDR " + ifname);
  memcpy(info.mac, ifr.ifr_hwaddr.sa_data, 6);
  FillIfreq(env, &ifr, ifname);
  if (ioctl(s.fd, SIOCGIFMTU, &ifr) < 0) ThrowErrno(env, "ioctl", errno, "SIOCGIFMTU " + ifname);
  info.mtu = ifr.ifr_mtu;
  FillIfreq(env, &ifr, ifname);
  if (ioctl(s.fd, SIOCGIFFLAGS, &ifr) < 0) ThrowErrno(env, "ioctl", errno, "SIOCGIFFLAGS " + ifname);
  info.flags = static_cast<unsigned short>(ifr.ifr_flags);
  return info;
}

std::string MacToString(const uint8_t* mac) {
  char buf[18];
  snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  return buf;
}

uint32_t ParseIpv4(Napi::Env env, const std::string& s) {
  struct in_addr a;
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) throw Napi::TypeError::New(env, "not an IPv4 address: '" + s + "'");
  return a.s_addr;
}

std::string FormatIpv4(uint32_t netOrder) {
  char buf[INET_ADDRSTRLEN];
  struct in_addr a;
  a.s_addr = netOrder;
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

Napi::Object IfaceInfoJs(Napi::Env env, const IfInfo& info) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ifindex", info.ifindex);
  o.Set("mac", MacToString(info.mac));
  o.Set("mtu", info.mtu);
  o.Set("up", (info.flags & IFF_UP) != 0);
  o.Set("running", (info.flags & IFF_RUNNING) != 0);
  o.Set("flags", info.flags);
  return o;
}

}  // namespace lvsd
