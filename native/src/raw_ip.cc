// Raw IP sockets for one protocol (VRRP = 112, IPIP = 4...): the kernel
// builds the IP header on send. IPv4 (RawIpSocket) receives the whole IP
// packet, header included, as raw IPv4 sockets do; IPv6 (RawIp6Socket)
// receives the payload only, as raw IPv6 sockets do, with the source, the
// destination (IPV6_PKTINFO) and the hop limit (IPV6_HOPLIMIT) alongside.
// One class template for both families (RawSocket<false> is RawIpSocket,
// RawSocket<true> RawIp6Socket); they differ in socket options, the
// membership request, the control messages and the callback's arguments.
// Low rate by nature, so each received packet is copied into a fresh Buffer.
#include "raw_ip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <type_traits>
#include <vector>

#include "poll.h"
#include "util.h"

namespace lvsd {
namespace {

in6_addr ParseIpv6(Napi::Env env, const std::string& s) {
  in6_addr a{};
  if (inet_pton(AF_INET6, s.c_str(), &a) != 1) throw Napi::TypeError::New(env, "not an IPv6 address: " + s);
  return a;
}

std::string FormatIpv6(const in6_addr& a) {
  char buf[INET6_ADDRSTRLEN];
  return inet_ntop(AF_INET6, &a, buf, sizeof buf) ? std::string(buf) : std::string();
}

// Link-local unicast and multicast destinations need the interface as the scope.
bool NeedsScope(const in6_addr& a) { return IN6_IS_ADDR_LINKLOCAL(&a) || IN6_IS_ADDR_MULTICAST(&a); }

template <bool V6>
class RawSocket : public PolledSocket<RawSocket<V6>> {
  using Base = PolledSocket<RawSocket<V6>>;
  using Sockaddr = std::conditional_t<V6, sockaddr_in6, sockaddr_in>;
  using PktInfo = std::conditional_t<V6, in6_pktinfo, in_pktinfo>;
  static constexpr const char* kClass = V6 ? "RawIp6Socket" : "RawIpSocket";
  static constexpr int kLevel = V6 ? IPPROTO_IPV6 : IPPROTO_IP;
  static constexpr int kAddMembership = V6 ? IPV6_ADD_MEMBERSHIP : IP_ADD_MEMBERSHIP;
  static constexpr int kDropMembership = V6 ? IPV6_DROP_MEMBERSHIP : IP_DROP_MEMBERSHIP;

 public:
  static Napi::Function Init(Napi::Env env) {
    return Base::DefineClass(env, kClass, {
      Base::InstanceMethod("send", &RawSocket::Send),
      // IPv4: start(cb(packet, from, ifindex, ttl)); IPv6: start(cb(payload, from, ifindex, hopLimit, dst))
      Base::InstanceMethod("start", &RawSocket::Start),
      Base::InstanceMethod("stop", &RawSocket::Stop),
      Base::InstanceMethod("addMembership", &RawSocket::AddMembership),
      Base::InstanceMethod("dropMembership", &RawSocket::DropMembership),
      Base::InstanceMethod("close", &RawSocket::Close),
      Base::InstanceAccessor("errors", &RawSocket::Errors, nullptr),
    });
  }

  // new RawIpSocket(protocol, {ifname?, multicast?: string[], ttl?, recvTtl?, bindToDevice?, multicastLoop?})
  // new RawIp6Socket(protocol, {ifname?, multicast?: string[], hopLimit?, bindToDevice?, multicastLoop?, trafficClass?})
  explicit RawSocket(const Napi::CallbackInfo& info) : Base(info, V6 ? "raw IPv6 socket" : "raw IP socket", kClass) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) {
      throw Napi::TypeError::New(env, V6 ? "RawIp6Socket(protocol, opts): protocol must be a number" : "openRawIp(protocol, opts): protocol must be a number");
    }
    int proto = info[0].As<Napi::Number>().Int32Value();
    if (proto < 1 || proto > 255) throw Napi::RangeError::New(env, "protocol must be 1..255");
    Napi::Object opts = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    std::string ifname;
    if (opts.Has("ifname") && opts.Get("ifname").IsString()) ifname = opts.Get("ifname").As<Napi::String>();
    if (!ifname.empty()) ifindex_ = IfIndex(env, ifname);

    fd_ = socket(V6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    if (fd_ < 0) ThrowErrno(env, "socket", errno, (V6 ? "AF_INET6 SOCK_RAW " : "AF_INET SOCK_RAW ") + std::to_string(proto));
    try {
      int one = 1;
      if constexpr (V6) {
        // The destination (multicast or not, keepalived's check) and the hop limit (RFC 5798 §7.1) of every packet.
        if (setsockopt(fd_, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) < 0) ThrowErrno(env, "setsockopt", errno, "IPV6_RECVPKTINFO");
        if (setsockopt(fd_, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof one) < 0) ThrowErrno(env, "setsockopt", errno, "IPV6_RECVHOPLIMIT");
#ifdef IPV6_MULTICAST_ALL
        // Only the groups this socket joined, not every group some other socket on the host joined (keepalived does the same).
        int zero = 0;
        setsockopt(fd_, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero, sizeof zero);
#endif
      } else {
        // Destination and arrival interface of every packet, for multi-interface hosts.
        if (setsockopt(fd_, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0) ThrowErrno(env, "setsockopt", errno, "IP_PKTINFO");
      }
      if (opts.Has("bindToDevice") && opts.Get("bindToDevice").ToBoolean().Value()) {
        if (ifname.empty()) throw Napi::TypeError::New(env, "bindToDevice needs ifname");
        if (setsockopt(fd_, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(), ifname.size() + 1) < 0) ThrowErrno(env, "setsockopt", errno, "SO_BINDTODEVICE " + ifname);
      }
      if constexpr (V6) {
        if (opts.Has("hopLimit") && opts.Get("hopLimit").IsNumber()) {
          int hops = opts.Get("hopLimit").As<Napi::Number>().Int32Value();
          if (hops < 1 || hops > 255) throw Napi::RangeError::New(env, "hopLimit must be 1..255");
          if (setsockopt(fd_, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops) < 0) ThrowErrno(env, "setsockopt", errno, "IPV6_UNICAST_HOPS");
          if (setsockopt(fd_, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) < 0) ThrowErrno(env, "setsockopt", errno, "IPV6_MULTICAST_HOPS");
        }
        if (opts.Has("trafficClass") && opts.Get("trafficClass").IsNumber()) {
          int tc = opts.Get("trafficClass").As<Napi::Number>().Int32Value();
          if (tc < 0 || tc > 255) throw Napi::RangeError::New(env, "trafficClass must be 0..255");
          if (setsockopt(fd_, IPPROTO_IPV6, IPV6_TCLASS, &tc, sizeof tc) < 0) ThrowErrno(env, "setsockopt", errno, "IPV6_TCLASS");
        }
      } else {
        if (opts.Has("ttl") && opts.Get("ttl").IsNumber()) {
          int ttl = opts.Get("ttl").As<Napi::Number>().Int32Value();
          if (ttl < 1 || ttl > 255) throw Napi::RangeError::New(env, "ttl must be 1..255");
          if (setsockopt(fd_, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl) < 0) ThrowErrno(env, "setsockopt", errno, "IP_TTL");
          if (setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) < 0) ThrowErrno(env, "setsockopt", errno, "IP_MULTICAST_TTL");
        }
        if (opts.Has("recvTtl") && opts.Get("recvTtl").ToBoolean().Value()) {
          // The TTL is in the delivered IP header anyway; asked for, it also arrives as IP_TTL cmsg.
          if (setsockopt(fd_, IPPROTO_IP, IP_RECVTTL, &one, sizeof one) < 0) ThrowErrno(env, "setsockopt", errno, "IP_RECVTTL");
        }
      }
      int loop = opts.Has("multicastLoop") && opts.Get("multicastLoop").ToBoolean().Value() ? 1 : 0;
      if (setsockopt(fd_, kLevel, V6 ? IPV6_MULTICAST_LOOP : IP_MULTICAST_LOOP, &loop, sizeof loop) < 0) {
        ThrowErrno(env, "setsockopt", errno, V6 ? "IPV6_MULTICAST_LOOP" : "IP_MULTICAST_LOOP");
      }
      if (ifindex_) {
        int r;
        if constexpr (V6) {
          unsigned idx = static_cast<unsigned>(ifindex_);
          r = setsockopt(fd_, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx);
        } else {
          ip_mreqn mr{};
          mr.imr_ifindex = ifindex_;
          r = setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof mr);
        }
        if (r < 0) ThrowErrno(env, "setsockopt", errno, std::string(V6 ? "IPV6_MULTICAST_IF " : "IP_MULTICAST_IF ") + ifname);
      }
      if (opts.Has("multicast") && opts.Get("multicast").IsArray()) {
        Napi::Array groups = opts.Get("multicast").As<Napi::Array>();
        for (uint32_t i = 0; i < groups.Length(); i++) Membership(env, groups.Get(i).ToString(), kAddMembership);
      }
    } catch (...) {
      Teardown();
      throw;
    }
    info.This().template As<Napi::Object>().Set("fd", fd_);
    info.This().template As<Napi::Object>().Set("ifindex", ifindex_);
  }

  ~RawSocket() override { this->TeardownCollected(); }

 private:
  friend Base;
  using Base::fd_;
  using Base::cb_;
  int ifindex_ = 0;
  double errors_ = 0;
  std::vector<uint8_t> rbuf_ = std::vector<uint8_t>(65536);

  void Teardown() {
    this->StopPolling();
    this->CloseFds();
  }

  void Membership(Napi::Env env, const std::string& group, int op) {
    int r;
    if constexpr (V6) {
      ipv6_mreq mr{};
      mr.ipv6mr_multiaddr = ParseIpv6(env, group);
      mr.ipv6mr_interface = static_cast<unsigned>(ifindex_);
      r = setsockopt(fd_, IPPROTO_IPV6, op, &mr, sizeof mr);
    } else {
      ip_mreqn mr{};
      mr.imr_multiaddr.s_addr = ParseIpv4(env, group);
      mr.imr_ifindex = ifindex_;
      r = setsockopt(fd_, IPPROTO_IP, op, &mr, sizeof mr);
    }
    if (r < 0) {
      const char* name = V6 ? (op == kAddMembership ? "IPV6_ADD_MEMBERSHIP " : "IPV6_DROP_MEMBERSHIP ")
                            : (op == kAddMembership ? "IP_ADD_MEMBERSHIP " : "IP_DROP_MEMBERSHIP ");
      ThrowErrno(env, "setsockopt", errno, std::string(name) + group);
    }
  }

  static std::string FormatAddr(const Sockaddr& a) {
    if constexpr (V6) return FormatIpv6(a.sin6_addr);
    else return FormatIpv4(a.sin_addr.s_addr);
  }

  void OnPoll(int status) {
    Napi::Env env = this->Env();
    if (status < 0) {
      // libuv stops the handle on POLLERR: here a pending socket error, e.g. an
      // ICMP (ICMPv6) error from a unicast peer. Clear it (SO_ERROR) and keep
      // listening: one peer's ICMP must not deafen VRRP.
      int soerr;
      this->ClearErrorAndResume(&soerr);
      errors_++;
      return;
    }
    // Drain a bounded number per wake so one flood cannot starve the loop.
    for (int i = 0; i < 64 && fd_ >= 0 && !cb_.IsEmpty(); i++) {
      Napi::HandleScope scope(env);
      Sockaddr from{};
      iovec iov{rbuf_.data(), rbuf_.size()};
      alignas(cmsghdr) char cbuf[256];
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof from;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = cbuf;
      msg.msg_controllen = sizeof cbuf;
      ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT);
      if (n < 0) {
        // Transient errors (incl. an ICMP error queued on the socket) are not the caller's problem.
        if (IsTransient(errno)) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
          continue;
        }
        return;
      }
      int ifindex = 0;
      int hops = -1;  // IPv4: the TTL (IP_TTL, with recvTtl); IPv6: the hop limit
      std::string dst;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != kLevel) continue;
        if (c->cmsg_type == (V6 ? IPV6_PKTINFO : IP_PKTINFO)) {
          PktInfo pi;
          memcpy(&pi, CMSG_DATA(c), sizeof pi);
          if constexpr (V6) {
            ifindex = static_cast<int>(pi.ipi6_ifindex);
            dst = FormatIpv6(pi.ipi6_addr);
          } else {
            ifindex = pi.ipi_ifindex;
          }
        } else if (c->cmsg_type == (V6 ? IPV6_HOPLIMIT : IP_TTL)) {
          memcpy(&hops, CMSG_DATA(c), sizeof hops);
        }
      }
      bool ok;
      try {
        Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::Copy(env, rbuf_.data(), static_cast<size_t>(n));
        if constexpr (V6) {
          ok = this->Emit({buf, Napi::String::New(env, FormatAddr(from)), Napi::Number::New(env, ifindex), Napi::Number::New(env, hops), Napi::String::New(env, dst)});
        } else {
          ok = this->Emit({buf, Napi::String::New(env, FormatAddr(from)), Napi::Number::New(env, ifindex), Napi::Number::New(env, hops)});
        }
      } catch (const Napi::Error& e) {
        napi_fatal_exception(env, e.Value());
        ok = false;
      }
      if (!ok) return;
    }
  }

  // send(dst, payload, src?) → bytes sent, or -errno for a transient error.
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    this->CheckOpen(env);
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsTypedArray()) throw Napi::TypeError::New(env, "send(dst: string, payload: Uint8Array, src?: string)");
    Sockaddr to{};
    if constexpr (V6) {
      to.sin6_family = AF_INET6;
      to.sin6_addr = ParseIpv6(env, info[0].As<Napi::String>());
      if (NeedsScope(to.sin6_addr)) to.sin6_scope_id = static_cast<uint32_t>(ifindex_);
    } else {
      to.sin_family = AF_INET;
      to.sin_addr.s_addr = ParseIpv4(env, info[0].As<Napi::String>());
    }
    Napi::Uint8Array payload = info[1].As<Napi::Uint8Array>();
    iovec iov{payload.Data(), payload.ByteLength()};
    msghdr msg{};
    msg.msg_name = &to;
    msg.msg_namelen = sizeof to;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(PktInfo))];
    if (info.Length() > 2 && info[2].IsString()) {
      // IP_PKTINFO's ipi_spec_dst becomes the source address of this one
      // packet; IPV6_PKTINFO's ipi6_addr likewise (the link-local one VRRP
      // must use, and the one its checksum covers), with the outgoing interface.
      memset(cbuf, 0, sizeof cbuf);
      msg.msg_control = cbuf;
      msg.msg_controllen = sizeof cbuf;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = kLevel;
      c->cmsg_type = V6 ? IPV6_PKTINFO : IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(PktInfo));
      PktInfo pi{};
      if constexpr (V6) {
        pi.ipi6_addr = ParseIpv6(env, info[2].As<Napi::String>());
        pi.ipi6_ifindex = static_cast<unsigned>(ifindex_);
      } else {
        pi.ipi_spec_dst.s_addr = ParseIpv4(env, info[2].As<Napi::String>());
        pi.ipi_ifindex = ifindex_;
      }
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
    }
    ssize_t n = sendmsg(fd_, &msg, MSG_DONTWAIT);
    if (n < 0) {
      int err = errno;
      // IPv6 EADDRNOTAVAIL: the source is still tentative (DAD) or was just removed; the next advert retries.
      if (IsTransient(err) || (V6 && err == EADDRNOTAVAIL)) return Napi::Number::New(env, -err);
      ThrowErrno(env, "sendmsg", err, "to " + FormatAddr(to));
    }
    return Napi::Number::New(env, static_cast<double>(n));
  }

  Napi::Value AddMembership(const Napi::CallbackInfo& info) {
    this->CheckOpen(info.Env());
    Membership(info.Env(), info[0].ToString(), kAddMembership);
    return info.Env().Undefined();
  }

  Napi::Value DropMembership(const Napi::CallbackInfo& info) {
    this->CheckOpen(info.Env());
    Membership(info.Env(), info[0].ToString(), kDropMembership);
    return info.Env().Undefined();
  }

  // Socket errors cleared so far (each one had stopped the poll).
  Napi::Value Errors(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), errors_); }
};

}  // namespace

void InitRawIp(Napi::Env env, Napi::Object exports) {
  exports.Set("RawIpSocket", RawSocket<false>::Init(env));
  exports.Set("RawIp6Socket", RawSocket<true>::Init(env));
}

}  // namespace lvsd
