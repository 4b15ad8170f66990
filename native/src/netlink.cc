// Minimal rtnetlink queries for the forwarder's next hops: the kernel's own
// route lookup (RTM_GETROUTE, as `ip route get`), one neighbour entry
// (RTM_GETNEIGH with NDA_DST, Linux >= 5.0) and a resolution trigger
// (RTM_NEWNEIGH with NTF_USE, or an NTF_EXT_MANAGED entry the kernel keeps
// resolved). IPv4 or IPv6, by the address given (AF_INET6 neighbours are
// resolved by neighbour discovery, the kernel's). Synchronous: the kernel
// answers these inline, in microseconds, so a blocking socket with a short
// receive timeout is simpler than a poll.
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <vector>

#include "util.h"

namespace lvsd {
namespace {

// An address of either family as rtnetlink carries it.
struct IpAddr {
  int af = AF_INET;
  uint8_t bytes[16] = {0};
  size_t len = 4;
};

IpAddr ParseIp(Napi::Env env, const std::string& s) {
  IpAddr a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes) == 1) return a;
  if (inet_pton(AF_INET6, s.c_str(), a.bytes) == 1) {
    a.af = AF_INET6;
    a.len = 16;
    return a;
  }
  throw Napi::TypeError::New(env, "not an IPv4 or IPv6 address: '" + s + "'");
}

std::string FormatIp(int af, const void* data) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(af, data, buf, sizeof buf);
  return buf;
}

struct NlSock {
  int fd = -1;
  explicit NlSock(Napi::Env env) {
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) ThrowErrno(env, "socket", errno, "AF_NETLINK NETLINK_ROUTE");
    timeval tv{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    // Extended ACKs would only add text; the errno is what callers need.
  }
  ~NlSock() {
    if (fd >= 0) close(fd);
  }
};

class Msg {
 public:
  Msg(uint16_t type, uint16_t flags) : buf_(NLMSG_SPACE(0)) {
    hdr()->nlmsg_type = type;
    hdr()->nlmsg_flags = flags;
    hdr()->nlmsg_seq = ++seq_;
    hdr()->nlmsg_len = NLMSG_LENGTH(0);
  }
  template <typename T>
  T* Body() {
    buf_.resize(NLMSG_SPACE(sizeof(T)));
    hdr()->nlmsg_len = NLMSG_LENGTH(sizeof(T));
    return reinterpret_cast<T*>(NLMSG_DATA(hdr()));
  }
  void Attr(uint16_t type, const void* data, size_t len) {
    size_t off = NLMSG_ALIGN(hdr()->nlmsg_len);
    buf_.resize(off + RTA_SPACE(len));
    rtattr* rta = reinterpret_cast<rtattr*>(buf_.data() + off);
    rta->rta_type = type;
    rta->rta_len = RTA_LENGTH(len);
    memcpy(RTA_DATA(rta), data, len);
    hdr()->nlmsg_len = off + RTA_LENGTH(len);
  }
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  uint32_t seq() { return hdr()->nlmsg_seq; }

 private:
  std::vector<char> buf_;
  // Process-wide, and the addon may run in several threads (lvsd --workers).
  static inline std::atomic<uint32_t> seq_{0};
};

// Sends `m` (a dump request when `dump`) and reads the kernel's answer to
// it: `each` is called for every message of type `wantType` and returns true
// when that was the answer. An NLMSG_ERROR ends it (0 for an ACK, else the
// positive errno the kernel answered with), and so does NLMSG_DONE: 0 for a
// dump, the end of its list; ENOENT for a single request, answered with nothing.
template <typename F>
int Exchange(Napi::Env env, Msg& m, bool dump, uint16_t wantType, F each) {
  NlSock s(env);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(s.fd, m.hdr(), m.hdr()->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    ThrowErrno(env, "sendto", errno, "rtnetlink");
  }
  std::vector<char> buf(65536);
  for (;;) {
    ssize_t n = recv(s.fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      ThrowErrno(env, "recv", errno, dump ? "rtnetlink dump" : "rtnetlink");
    }
    int len = static_cast<int>(n);
    for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != m.seq()) continue;
      if (h->nlmsg_type == NLMSG_DONE) return dump ? 0 : ENOENT;
      if (h->nlmsg_type == NLMSG_ERROR) {
        nlmsgerr* e = reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h));
        if (e->error == 0) return 0;  // an ACK
        return -e->error;
      }
      if (h->nlmsg_type == wantType && each(h)) return 0;
    }
  }
}

// A single request: the reply (one message of type wantType) is copied to `out`.
int Transact(Napi::Env env, Msg& m, std::vector<char>& out, uint16_t wantType) {
  return Exchange(env, m, false, wantType, [&](nlmsghdr* h) {
    out.assign(reinterpret_cast<char*>(h), reinterpret_cast<char*>(h) + h->nlmsg_len);
    return true;
  });
}

const char* RouteTypeName(unsigned t) {
  switch (t) {
    case RTN_UNICAST: return "unicast";
    case RTN_LOCAL: return "local";
    case RTN_BROADCAST: return "broadcast";
    case RTN_ANYCAST: return "anycast";
    case RTN_MULTICAST: return "multicast";
    case RTN_BLACKHOLE: return "blackhole";
    case RTN_UNREACHABLE: return "unreachable";
    case RTN_PROHIBIT: return "prohibit";
    case RTN_THROW: return "throw";
    case RTN_NAT: return "nat";
    default: return "other";
  }
}

Napi::Array NudStates(Napi::Env env, unsigned st) {
  static const struct { unsigned bit; const char* name; } names[] = {
      {NUD_INCOMPLETE, "INCOMPLETE"}, {NUD_REACHABLE, "REACHABLE"}, {NUD_STALE, "STALE"}, {NUD_DELAY, "DELAY"},
      {NUD_PROBE, "PROBE"}, {NUD_FAILED, "FAILED"}, {NUD_NOARP, "NOARP"}, {NUD_PERMANENT, "PERMANENT"}};
  Napi::Array a = Napi::Array::New(env);
  uint32_t i = 0;
  for (auto& n : names) if (st & n.bit) a.Set(i++, n.name);
  if (i == 0) a.Set(0u, "NONE");
  return a;
}

std::string IfName(int ifindex) {
  char name[IF_NAMESIZE] = {0};
  return if_indextoname(ifindex, name) ? name : "";
}

// routeGet(dst, {oif?: number, src?: string}?) → {type, ifindex, dev, gateway?, prefsrc?} | null
Napi::Value RouteGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "routeGet(dst: string, opts?)");
  IpAddr dst = ParseIp(env, info[0].As<Napi::String>());
  Msg m(RTM_GETROUTE, NLM_F_REQUEST);
  rtmsg* r = m.Body<rtmsg>();
  r->rtm_family = dst.af;
  r->rtm_dst_len = dst.len * 8;
  m.Attr(RTA_DST, dst.bytes, dst.len);
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    if (o.Has("oif") && o.Get("oif").IsNumber()) {
      uint32_t oif = o.Get("oif").As<Napi::Number>().Uint32Value();
      m.Attr(RTA_OIF, &oif, 4);
    }
    if (o.Has("src") && o.Get("src").IsString()) {
      IpAddr src = ParseIp(env, o.Get("src").As<Napi::String>());
      if (src.af != dst.af) throw Napi::TypeError::New(env, "routeGet: src and dst must be of one address family");
      m.Attr(RTA_SRC, src.bytes, src.len);
      // RTA_SRC in a query is the source address, as `ip route get ... from`.
    }
  }
  std::vector<char> reply;
  int err = Transact(env, m, reply, RTM_NEWROUTE);
  if (err == ENETUNREACH || err == EHOSTUNREACH || err == ENOENT || err == EACCES || err == EINVAL) return env.Null();
  if (err) ThrowErrno(env, "rtnetlink", err, "RTM_GETROUTE " + FormatIp(dst.af, dst.bytes));
  nlmsghdr* h = reinterpret_cast<nlmsghdr*>(reply.data());
  rtmsg* rr = reinterpret_cast<rtmsg*>(NLMSG_DATA(h));
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", RouteTypeName(rr->rtm_type));
  int alen = static_cast<int>(RTM_PAYLOAD(h));
  int oif = 0;
  for (rtattr* a = RTM_RTA(rr); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
    switch (a->rta_type) {
      case RTA_OIF: memcpy(&oif, RTA_DATA(a), 4); break;
      case RTA_GATEWAY:
        if (RTA_PAYLOAD(a) == dst.len) o.Set("gateway", FormatIp(dst.af, RTA_DATA(a)));
        break;
      case RTA_PREFSRC:
        if (RTA_PAYLOAD(a) == dst.len) o.Set("prefsrc", FormatIp(dst.af, RTA_DATA(a)));
        break;
      default: break;
    }
  }
  o.Set("ifindex", oif);
  o.Set("dev", IfName(oif));
  return o;
}

// neighGet(ifindex, ip) → {lladdr: string | null, state: number, states: string[]} | null
Napi::Value NeighGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsString()) throw Napi::TypeError::New(env, "neighGet(ifindex: number, ip: string)");
  int ifindex = info[0].As<Napi::Number>().Int32Value();
  IpAddr ip = ParseIp(env, info[1].As<Napi::String>());
  Msg m(RTM_GETNEIGH, NLM_F_REQUEST);
  ndmsg* nd = m.Body<ndmsg>();
  nd->ndm_family = ip.af;
  nd->ndm_ifindex = ifindex;
  m.Attr(NDA_DST, ip.bytes, ip.len);
  std::vector<char> reply;
  int err = Transact(env, m, reply, RTM_NEWNEIGH);
  if (err == ENOENT) return env.Null();
  if (err) ThrowErrno(env, "rtnetlink", err, "RTM_GETNEIGH " + FormatIp(ip.af, ip.bytes));
  nlmsghdr* h = reinterpret_cast<nlmsghdr*>(reply.data());
  ndmsg* r = reinterpret_cast<ndmsg*>(NLMSG_DATA(h));
  Napi::Object o = Napi::Object::New(env);
  o.Set("lladdr", env.Null());
  int alen = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(ndmsg)));
  for (rtattr* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(r) + NLMSG_ALIGN(sizeof(ndmsg))); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
    if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) o.Set("lladdr", MacToString(static_cast<uint8_t*>(RTA_DATA(a))));
  }
  o.Set("state", r->ndm_state);
  o.Set("states", NudStates(env, r->ndm_state));
  return o;
}

// neighResolve(ifindex, ip, {managed?: boolean}?): ask the kernel to resolve ip
// on ifindex. Default NTF_USE: create the entry if needed and send an ARP
// probe now, exactly as if a packet were queued for it. managed: an
// NTF_EXT_MANAGED entry, which the kernel keeps resolved (Linux >= 5.16).
Napi::Value NeighResolve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsString()) throw Napi::TypeError::New(env, "neighResolve(ifindex: number, ip: string, opts?)");
  int ifindex = info[0].As<Napi::Number>().Int32Value();
  IpAddr ip = ParseIp(env, info[1].As<Napi::String>());
  bool managed = info.Length() > 2 && info[2].IsObject() && info[2].As<Napi::Object>().Get("managed").ToBoolean().Value();
  Msg m(RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | (managed ? NLM_F_REPLACE : 0));
  ndmsg* nd = m.Body<ndmsg>();
  nd->ndm_family = ip.af;
  nd->ndm_ifindex = ifindex;
  if (managed) {
    nd->ndm_state = NUD_NONE;
    uint32_t ext = NTF_EXT_MANAGED;
    m.Attr(NDA_DST, ip.bytes, ip.len);
    m.Attr(NDA_FLAGS_EXT, &ext, 4);
  } else {
    nd->ndm_state = NUD_NONE;
    nd->ndm_flags = NTF_USE;
    m.Attr(NDA_DST, ip.bytes, ip.len);
  }
  std::vector<char> reply;
  int err = Transact(env, m, reply, NLMSG_ERROR);
  if (err) ThrowErrno(env, "rtnetlink", err, std::string("RTM_NEWNEIGH ") + (managed ? "managed " : "NTF_USE ") + FormatIp(ip.af, ip.bytes));
  return env.Undefined();
}

// A dump as a JS array: one object a message of type wantType, made by
// `row` (an empty Object leaves the message out); `what` names the request
// in the error a refused dump throws.
template <typename F>
Napi::Value DumpList(Napi::Env env, Msg& m, uint16_t wantType, const char* what, F row) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t k = 0;
  int err = Exchange(env, m, true, wantType, [&](nlmsghdr* h) {
    Napi::Object o = row(h);
    if (!o.IsEmpty()) out.Set(k++, o);
    return false;
  });
  if (err) ThrowErrno(env, "rtnetlink", err, what);
  return out;
}

int FamilyArg(Napi::Env env, const Napi::CallbackInfo& info, const char* what) {
  int fam = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 4;
  if (fam != 4 && fam != 6) throw Napi::TypeError::New(env, std::string(what) + "(family: 4 | 6)");
  return fam == 6 ? AF_INET6 : AF_INET;
}

// routeDump(family 4|6) → [{dst, type, dev?, gateway?, prefsrc?}]: the main
// table, as `ip -j route show table main` lists it (dst "default", an
// address for a host route, "addr/len" otherwise). One netlink dump, no fork:
// forking `ip` from a process with lvsd's rings and tables mapped stalled the
// data path for 5-10 ms a call.
Napi::Value RouteDump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int af = FamilyArg(env, info, "routeDump");
  size_t alen = af == AF_INET6 ? 16 : 4;
  Msg m(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP);
  m.Body<rtmsg>()->rtm_family = af;
  return DumpList(env, m, RTM_NEWROUTE, "RTM_GETROUTE dump", [&](nlmsghdr* h) {
    rtmsg* rr = reinterpret_cast<rtmsg*>(NLMSG_DATA(h));
    if (rr->rtm_family != af) return Napi::Object();
    uint32_t table = rr->rtm_table;
    int len = static_cast<int>(RTM_PAYLOAD(h));
    const void* dst = nullptr;
    const void* gw = nullptr;
    const void* pref = nullptr;
    int oif = 0;
    for (rtattr* a = RTM_RTA(rr); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      switch (a->rta_type) {
        case RTA_TABLE: memcpy(&table, RTA_DATA(a), 4); break;
        case RTA_DST: if (RTA_PAYLOAD(a) == alen) dst = RTA_DATA(a); break;
        case RTA_GATEWAY: if (RTA_PAYLOAD(a) == alen) gw = RTA_DATA(a); break;
        case RTA_PREFSRC: if (RTA_PAYLOAD(a) == alen) pref = RTA_DATA(a); break;
        case RTA_OIF: memcpy(&oif, RTA_DATA(a), 4); break;
        default: break;
      }
    }
    if (table != RT_TABLE_MAIN) return Napi::Object();
    Napi::Object o = Napi::Object::New(env);
    std::string d;
    if (rr->rtm_dst_len == 0) d = "default";
    else {
      uint8_t zero[16] = {0};
      d = FormatIp(af, dst ? dst : zero);
      if (rr->rtm_dst_len != alen * 8) d += "/" + std::to_string(rr->rtm_dst_len);
    }
    o.Set("dst", d);
    o.Set("type", RouteTypeName(rr->rtm_type));
    if (oif) o.Set("dev", IfName(oif));
    if (gw) o.Set("gateway", FormatIp(af, gw));
    if (pref) o.Set("prefsrc", FormatIp(af, pref));
    return o;
  });
}

// neighDump(family 4|6) → [{dst, dev, lladdr?, state: string[]}], as `ip -j neigh show`.
Napi::Value NeighDump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int af = FamilyArg(env, info, "neighDump");
  size_t alen = af == AF_INET6 ? 16 : 4;
  Msg m(RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP);
  m.Body<ndmsg>()->ndm_family = af;
  return DumpList(env, m, RTM_NEWNEIGH, "RTM_GETNEIGH dump", [&](nlmsghdr* h) {
    ndmsg* r = reinterpret_cast<ndmsg*>(NLMSG_DATA(h));
    if (r->ndm_family != af) return Napi::Object();
    int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(ndmsg)));
    const void* dst = nullptr;
    const uint8_t* ll = nullptr;
    for (rtattr* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(r) + NLMSG_ALIGN(sizeof(ndmsg))); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == alen) dst = RTA_DATA(a);
      if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) ll = static_cast<uint8_t*>(RTA_DATA(a));
    }
    if (!dst) return Napi::Object();
    Napi::Object o = Napi::Object::New(env);
    o.Set("dst", FormatIp(af, dst));
    o.Set("dev", IfName(r->ndm_ifindex));
    if (ll) o.Set("lladdr", MacToString(ll));
    o.Set("state", NudStates(env, r->ndm_state));
    return o;
  });
}

}  // namespace

void InitNetlink(Napi::Env env, Napi::Object exports) {
  exports.Set("routeGet", Napi::Function::New(env, RouteGet, "routeGet"));
  exports.Set("neighGet", Napi::Function::New(env, NeighGet, "neighGet"));
  exports.Set("neighResolve", Napi::Function::New(env, NeighResolve, "neighResolve"));
  exports.Set("routeDump", Napi::Function::New(env, RouteDump, "routeDump"));
  exports.Set("neighDump", Napi::Function::New(env, NeighDump, "neighDump"));
}

}  // namespace lvsd
