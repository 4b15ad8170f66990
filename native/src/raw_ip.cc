// Raw IP sockets for one protocol (VRRP = 112, IPIP = 4...): the kernel
// builds the IP header on send. IPv4 (RawIpSocket) receives the whole IP
// packet, header included, as raw IPv4 sockets do; IPv6 (RawIp6Socket)
// receives the payload only, as raw IPv6 sockets do, with the source, the
// destination (IPV6_PKTINFO) and the hop limit (IPV6_HOPLIMIT) alongside.
// Low rate by nature, so each received packet is copied into a fresh Buffer.
#include "raw_ip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <memory>
#include <vector>

#include "util.h"

namespace lvsd {
namespace {

class RawIpSocket : public Napi::ObjectWrap<RawIpSocket> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "RawIpSocket", {
      InstanceMethod("send", &RawIpSocket::Send),
      InstanceMethod("start", &RawIpSocket::Start),
      InstanceMethod("stop", &RawIpSocket::Stop),
      InstanceMethod("addMembership", &RawIpSocket::AddMembership),
      InstanceMethod("dropMembership", &RawIpSocket::DropMembership),
      InstanceMethod("close", &RawIpSocket::Close),
      InstanceAccessor("errors", &RawIpSocket::Errors, nullptr),
    });
  }

  // new RawIpSocket(protocol, {ifname?, multicast?: string[], ttl?, recvTtl?, bindToDevice?, multicastLoop?})
  explicit RawIpSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RawIpSocket>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "openRawIp(protocol, opts): protocol must be a number");
    int proto = info[0].As<Napi::Number>().Int32Value();
    if (proto < 1 || proto > 255) throw Napi::RangeError::New(env, "protocol must be 1..255");
    Napi::Object opts = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    std::string ifname;
    if (opts.Has("ifname") && opts.Get("ifname").IsString()) ifname = opts.Get("ifname").As<Napi::String>();
    if (!ifname.empty()) ifindex_ = IfIndex(env, ifname);

    fd_ = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    if (fd_ < 0) ThrowErrno(env, "socket", errno, "AF_INET SOCK_RAW " + std::to_string(proto));
    try {
      int one = 1;
      // Destination and arrival interface of every packet, for multi-interface hosts.
      if (setsockopt(fd_, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0) ThrowErrno(env, "setsockopt", errno, "IP_PKTINFO");
      if (opts.Has("bindToDevice") && opts.Get("bindToDevice").ToBoolean().Value()) {
        if (ifname.empty()) throw Napi::TypeError::New(env, "bindToDevice needs ifname");
        if (setsockopt(fd_, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(), ifname.size() + 1) < 0) ThrowErrno(env, "setsockopt", errno, "SO_BINDTODEVICE " + ifname);
      }
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
      int loop = opts.Has("multicastLoop") && opts.Get("multicastLoop").ToBoolean().Value() ? 1 : 0;
      if (setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) < 0) ThrowErrno(env, "setsockopt", errno, "IP_MULTICAST_LOOP");
      if (ifindex_) {
        ip_mreqn mr{};
        mr.imr_ifindex = ifindex_;
        if (setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof mr) < 0) ThrowErrno(env, "setsockopt", errno, "IP_MULTICAST_IF " + ifname);
      }
      if (opts.Has("multicast") && opts.Get("multicast").IsArray()) {
        Napi::Array groups = opts.Get("multicast").As<Napi::Array>();
        for (uint32_t i = 0; i < groups.Length(); i++) Membership(env, groups.Get(i).ToString(), IP_ADD_MEMBERSHIP);
      }
    } catch (...) {
      Teardown();
      throw;
    }
    info.This().As<Napi::Object>().Set("fd", fd_);
    info.This().As<Napi::Object>().Set("ifindex", ifindex_);
  }

  ~RawIpSocket() override {
    refd_ = false;
    Teardown();
  }

 private:
  int fd_ = -1;
  int ifindex_ = 0;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference cb_;
  std::unique_ptr<Napi::AsyncContext> async_;
  bool refd_ = false;
  double errors_ = 0;
  std::vector<uint8_t> rbuf_ = std::vector<uint8_t>(65536);

  void Membership(Napi::Env env, const std::string& group, int op) {
    ip_mreqn mr{};
    mr.imr_multiaddr.s_addr = ParseIpv4(env, group);
    mr.imr_ifindex = ifindex_;
    if (setsockopt(fd_, IPPROTO_IP, op, &mr, sizeof mr) < 0) {
      ThrowErrno(env, "setsockopt", errno, std::string(op == IP_ADD_MEMBERSHIP ? "IP_ADD_MEMBERSHIP " : "IP_DROP_MEMBERSHIP ") + group);
    }
  }

  void StopPoll() {
    if (poll_) {
      uv_poll_stop(poll_);
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    if (!cb_.IsEmpty()) cb_.Reset();
    async_.reset();
  }

  void Teardown() {
    StopPoll();
    if (refd_) {
      refd_ = false;
      Unref();
    }
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }

  void CheckOpen(Napi::Env env) {
    if (fd_ < 0) {
      Napi::Error e = Napi::Error::New(env, "raw IP socket is closed");
      e.Set("code", Napi::String::New(env, "ERR_SOCKET_CLOSED"));
      throw e;
    }
  }

  static void OnPoll(uv_poll_t* h, int status, int events) {
    RawIpSocket* self = static_cast<RawIpSocket*>(h->data);
    if (!self || self->cb_.IsEmpty()) return;
    Napi::Env env = self->Env();
    if (status < 0) {
      // libuv stops the handle on POLLERR: here a pending socket error, e.g. an
      // ICMP protocol-unreachable from a unicast peer. Clear it (SO_ERROR) and
      // keep listening: one peer's ICMP must not deafen VRRP.
      int soerr = 0;
      socklen_t sl = sizeof soerr;
      if (self->fd_ >= 0) getsockopt(self->fd_, SOL_SOCKET, SO_ERROR, &soerr, &sl);
      self->errors_++;
      if (soerr != 0 && self->poll_) uv_poll_start(self->poll_, UV_READABLE, &RawIpSocket::OnPoll);
      return;
    }
    // Drain a bounded number per wake so one flood cannot starve the loop.
    for (int i = 0; i < 64 && self->fd_ >= 0 && !self->cb_.IsEmpty(); i++) {
      Napi::HandleScope scope(env);
      sockaddr_in from{};
      iovec iov{self->rbuf_.data(), self->rbuf_.size()};
      alignas(cmsghdr) char cbuf[256];
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof from;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = cbuf;
      msg.msg_controllen = sizeof cbuf;
      ssize_t n = recvmsg(self->fd_, &msg, MSG_DONTWAIT);
      if (n < 0) {
        // Transient errors (incl. an ICMP error queued on the socket) are not the caller's problem.
        if (IsTransient(errno)) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
          continue;
        }
        return;
      }
      int ifindex = 0;
      int ttl = -1;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
          in_pktinfo pi;
          memcpy(&pi, CMSG_DATA(c), sizeof pi);
          ifindex = pi.ipi_ifindex;
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) {
          memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
        }
      }
      try {
        Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::Copy(env, self->rbuf_.data(), static_cast<size_t>(n));
        self->cb_.MakeCallback(self->Value(), {buf, Napi::String::New(env, FormatIpv4(from.sin_addr.s_addr)), Napi::Number::New(env, ifindex), Napi::Number::New(env, ttl)}, *self->async_);
      } catch (const Napi::Error& e) {
        napi_fatal_exception(env, e.Value());
        return;
      }
    }
  }

  // start(cb(buf, from, ifindex, ttl))
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "start(callback) needs a function");
    cb_ = Napi::Persistent(info[0].As<Napi::Function>());
    if (!async_) async_ = std::make_unique<Napi::AsyncContext>(env, "lvsd:RawIpSocket");
    if (!poll_) {
      uv_loop_t* loop = nullptr;
      napi_get_uv_event_loop(env, &loop);
      poll_ = new uv_poll_t;
      int r = uv_poll_init(loop, poll_, fd_);
      if (r < 0) {
        delete poll_;
        poll_ = nullptr;
        ThrowErrno(env, "uv_poll_init", -r);
      }
      poll_->data = this;
    }
    int r = uv_poll_start(poll_, UV_READABLE, &RawIpSocket::OnPoll);
    if (r < 0) ThrowErrno(env, "uv_poll_start", -r);
    if (!refd_) {
      Ref();
      refd_ = true;
    }
    return env.Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopPoll();
    if (refd_) {
      refd_ = false;
      Unref();
    }
    return info.Env().Undefined();
  }

  // send(dst, payload, src?) → bytes sent, or -errno for a transient error.
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsTypedArray()) throw Napi::TypeError::New(env, "send(dst: string, payload: Uint8Array, src?: string)");
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = ParseIpv4(env, info[0].As<Napi::String>());
    Napi::Uint8Array payload = info[1].As<Napi::Uint8Array>();
    iovec iov{payload.Data(), payload.ByteLength()};
    msghdr msg{};
    msg.msg_name = &to;
    msg.msg_namelen = sizeof to;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(in_pktinfo))];
    if (info.Length() > 2 && info[2].IsString()) {
      // IP_PKTINFO's ipi_spec_dst becomes the source address of this one packet.
      memset(cbuf, 0, sizeof cbuf);
      msg.msg_control = cbuf;
      msg.msg_controllen = sizeof cbuf;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
      in_pktinfo pi{};
      pi.ipi_spec_dst.s_addr = ParseIpv4(env, info[2].As<Napi::String>());
      pi.ipi_ifindex = ifindex_;
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
    }
    ssize_t n = sendmsg(fd_, &msg, MSG_DONTWAIT);
    if (n < 0) {
      int err = errno;
      if (IsTransient(err)) return Napi::Number::New(env, -err);
      ThrowErrno(env, "sendmsg", err, "to " + FormatIpv4(to.sin_addr.s_addr));
    }
    return Napi::Number::New(env, static_cast<double>(n));
  }

  Napi::Value AddMembership(const Napi::CallbackInfo& info) {
    CheckOpen(info.Env());
    Membership(info.Env(), info[0].ToString(), IP_ADD_MEMBERSHIP);
    return info.Env().Undefined();
  }

  Napi::Value DropMembership(const Napi::CallbackInfo& info) {
    CheckOpen(info.Env());
    Membership(info.Env(), info[0].ToString(), IP_DROP_MEMBERSHIP);
    return info.Env().Undefined();
  }

  // Socket errors cleared so far (each one had stopped the poll).
  Napi::Value Errors(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), errors_); }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Teardown();
    return info.Env().Undefined();
  }
};


// ---------------------------------------------------------------- IPv6

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

class RawIp6Socket : public Napi::ObjectWrap<RawIp6Socket> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "RawIp6Socket", {
      InstanceMethod("send", &RawIp6Socket::Send),
      InstanceMethod("start", &RawIp6Socket::Start),
      InstanceMethod("stop", &RawIp6Socket::Stop),
      InstanceMethod("addMembership", &RawIp6Socket::AddMembership),
      InstanceMethod("dropMembership", &RawIp6Socket::DropMembership),
      InstanceMethod("close", &RawIp6Socket::Close),
      InstanceAccessor("errors", &RawIp6Socket::Errors, nullptr),
    });
  }

  // new RawIp6Socket(protocol, {ifname?, multicast?: string[], hopLimit?, bindToDevice?, multicastLoop?, trafficClass?})
  explicit RawIp6Socket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RawIp6Socket>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "RawIp6Socket(protocol, opts): protocol must be a number");
    int proto = info[0].As<Napi::Number>().Int32Value();
    if (proto < 1 || proto > 255) throw Napi::RangeError::New(env, "protocol must be 1..255");
    Napi::Object opts = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    std::string ifname;
    if (opts.Has("ifname") && opts.Get("ifname").IsString()) ifname = opts.Get("ifname").As<Napi::String>();
    if (!ifname.empty()) ifindex_ = IfIndex(env, ifname);

    fd_ = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    if (fd_ < 0) ThrowErrno(env, "socket", errno, "AF_INET6 SOCK_RAW " + std::to_string(proto));
    try {
      int one = 1;
      // The destination (multicast or not, keepalived's check) and the hop limit (RFC 5798 §7.1) of every packet.
      if (setsockopt(fd_, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) < 0) ThrowErrno(env, "setsockopt", errno, "IPV6_RECVPKTINFO");
      if (setsockopt(fd_, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof one) < 0) ThrowErrno(env, "setsockopt", errno, "IPV6_RECVHOPLIMIT");
#ifdef IPV6_MULTICAST_ALL
      // Only the groups this socket joined, not every group some other socket on the host joined (keepalived does the same).
      int zero = 0;
      setsockopt(fd_, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero, sizeof zero);
#endif
      if (opts.Has("bindToDevice") && opts.Get("bindToDevice").ToBoolean().Value()) {
        if (ifname.empty()) throw Napi::TypeError::New(env, "bindToDevice needs ifname");
        if (setsockopt(fd_, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(), ifname.size() + 1) < 0) ThrowErrno(env, "setsockopt", errno, "SO_BINDTODEVICE " + ifname);
      }
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
      int loop = opts.Has("multicastLoop") && opts.Get("multicastLoop").ToBoolean().Value() ? 1 : 0;
      if (setsockopt(fd_, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop, sizeof loop) < 0) ThrowErrno(env, "setsockopt", errno, "IPV6_MULTICAST_LOOP");
      if (ifindex_) {
        unsigned idx = static_cast<unsigned>(ifindex_);
        if (setsockopt(fd_, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx) < 0) ThrowErrno(env, "setsockopt", errno, "IPV6_MULTICAST_IF " + ifname);
      }
      if (opts.Has("multicast") && opts.Get("multicast").IsArray()) {
        Napi::Array groups = opts.Get("multicast").As<Napi::Array>();
        for (uint32_t i = 0; i < groups.Length(); i++) Membership(env, groups.Get(i).ToString(), IPV6_ADD_MEMBERSHIP);
      }
    } catch (...) {
      Teardown();
      throw;
    }
    info.This().As<Napi::Object>().Set("fd", fd_);
    info.This().As<Napi::Object>().Set("ifindex", ifindex_);
  }

  ~RawIp6Socket() override {
    refd_ = false;
    Teardown();
  }

 private:
  int fd_ = -1;
  int ifindex_ = 0;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference cb_;
  std::unique_ptr<Napi::AsyncContext> async_;
  bool refd_ = false;
  double errors_ = 0;
  std::vector<uint8_t> rbuf_ = std::vector<uint8_t>(65536);

  void Membership(Napi::Env env, const std::string& group, int op) {
    ipv6_mreq mr{};
    mr.ipv6mr_multiaddr = ParseIpv6(env, group);
    mr.ipv6mr_interface = static_cast<unsigned>(ifindex_);
    if (setsockopt(fd_, IPPROTO_IPV6, op, &mr, sizeof mr) < 0) {
      ThrowErrno(env, "setsockopt", errno, std::string(op == IPV6_ADD_MEMBERSHIP ? "IPV6_ADD_MEMBERSHIP " : "IPV6_DROP_MEMBERSHIP ") + group);
    }
  }

  void StopPoll() {
    if (poll_) {
      uv_poll_stop(poll_);
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    if (!cb_.IsEmpty()) cb_.Reset();
    async_.reset();
  }

  void Teardown() {
    StopPoll();
    if (refd_) {
      refd_ = false;
      Unref();
    }
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }

  void CheckOpen(Napi::Env env) {
    if (fd_ < 0) {
      Napi::Error e = Napi::Error::New(env, "raw IPv6 socket is closed");
      e.Set("code", Napi::String::New(env, "ERR_SOCKET_CLOSED"));
      throw e;
    }
  }

  static void OnPoll(uv_poll_t* h, int status, int events) {
    RawIp6Socket* self = static_cast<RawIp6Socket*>(h->data);
    if (!self || self->cb_.IsEmpty()) return;
    Napi::Env env = self->Env();
    if (status < 0) {
      // As for IPv4: a queued socket error (an ICMPv6 error from a unicast peer) stops the handle; clear it and go on.
      int soerr = 0;
      socklen_t sl = sizeof soerr;
      if (self->fd_ >= 0) getsockopt(self->fd_, SOL_SOCKET, SO_ERROR, &soerr, &sl);
      self->errors_++;
      if (soerr != 0 && self->poll_) uv_poll_start(self->poll_, UV_READABLE, &RawIp6Socket::OnPoll);
      return;
    }
    for (int i = 0; i < 64 && self->fd_ >= 0 && !self->cb_.IsEmpty(); i++) {
      Napi::HandleScope scope(env);
      sockaddr_in6 from{};
      iovec iov{self->rbuf_.data(), self->rbuf_.size()};
      alignas(cmsghdr) char cbuf[256];
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof from;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = cbuf;
      msg.msg_controllen = sizeof cbuf;
      ssize_t n = recvmsg(self->fd_, &msg, MSG_DONTWAIT);
      if (n < 0) {
        if (IsTransient(errno)) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
          continue;
        }
        return;
      }
      int ifindex = 0;
      int hops = -1;
      std::string dst;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != IPPROTO_IPV6) continue;
        if (c->cmsg_type == IPV6_PKTINFO) {
          in6_pktinfo pi;
          memcpy(&pi, CMSG_DATA(c), sizeof pi);
          ifindex = static_cast<int>(pi.ipi6_ifindex);
          dst = FormatIpv6(pi.ipi6_addr);
        } else if (c->cmsg_type == IPV6_HOPLIMIT) {
          memcpy(&hops, CMSG_DATA(c), sizeof hops);
        }
      }
      try {
        Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::Copy(env, self->rbuf_.data(), static_cast<size_t>(n));
        self->cb_.MakeCallback(self->Value(), {buf, Napi::String::New(env, FormatIpv6(from.sin6_addr)), Napi::Number::New(env, ifindex),
                                               Napi::Number::New(env, hops), Napi::String::New(env, dst)}, *self->async_);
      } catch (const Napi::Error& e) {
        napi_fatal_exception(env, e.Value());
        return;
      }
    }
  }

  // start(cb(payload, from, ifindex, hopLimit, dst))
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "start(callback) needs a function");
    cb_ = Napi::Persistent(info[0].As<Napi::Function>());
    if (!async_) async_ = std::make_unique<Napi::AsyncContext>(env, "lvsd:RawIp6Socket");
    if (!poll_) {
      uv_loop_t* loop = nullptr;
      napi_get_uv_event_loop(env, &loop);
      poll_ = new uv_poll_t;
      int r = uv_poll_init(loop, poll_, fd_);
      if (r < 0) {
        delete poll_;
        poll_ = nullptr;
        ThrowErrno(env, "uv_poll_init", -r);
      }
      poll_->data = this;
    }
    int r = uv_poll_start(poll_, UV_READABLE, &RawIp6Socket::OnPoll);
    if (r < 0) ThrowErrno(env, "uv_poll_start", -r);
    if (!refd_) {
      Ref();
      refd_ = true;
    }
    return env.Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopPoll();
    if (refd_) {
      refd_ = false;
      Unref();
    }
    return info.Env().Undefined();
  }

  // send(dst, payload, src?) → bytes sent, or -errno for a transient error.
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsTypedArray()) throw Napi::TypeError::New(env, "send(dst: string, payload: Uint8Array, src?: string)");
    sockaddr_in6 to{};
    to.sin6_family = AF_INET6;
    to.sin6_addr = ParseIpv6(env, info[0].As<Napi::String>());
    if (NeedsScope(to.sin6_addr)) to.sin6_scope_id = static_cast<uint32_t>(ifindex_);
    Napi::Uint8Array payload = info[1].As<Napi::Uint8Array>();
    iovec iov{payload.Data(), payload.ByteLength()};
    msghdr msg{};
    msg.msg_name = &to;
    msg.msg_namelen = sizeof to;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(in6_pktinfo))];
    if (info.Length() > 2 && info[2].IsString()) {
      // IPV6_PKTINFO: this packet's source address (the link-local one VRRP
      // must use, and the one its checksum covers) and outgoing interface.
      memset(cbuf, 0, sizeof cbuf);
      msg.msg_control = cbuf;
      msg.msg_controllen = sizeof cbuf;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
      in6_pktinfo pi{};
      pi.ipi6_addr = ParseIpv6(env, info[2].As<Napi::String>());
      pi.ipi6_ifindex = static_cast<unsigned>(ifindex_);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
    }
    ssize_t n = sendmsg(fd_, &msg, MSG_DONTWAIT);
    if (n < 0) {
      int err = errno;
      // EADDRNOTAVAIL: the source is still tentative (DAD) or was just removed; the next advert retries.
      if (IsTransient(err) || err == EADDRNOTAVAIL) return Napi::Number::New(env, -err);
      ThrowErrno(env, "sendmsg", err, "to " + FormatIpv6(to.sin6_addr));
    }
    return Napi::Number::New(env, static_cast<double>(n));
  }

  Napi::Value AddMembership(const Napi::CallbackInfo& info) {
    CheckOpen(info.Env());
    Membership(info.Env(), info[0].ToString(), IPV6_ADD_MEMBERSHIP);
    return info.Env().Undefined();
  }

  Napi::Value DropMembership(const Napi::CallbackInfo& info) {
    CheckOpen(info.Env());
    Membership(info.Env(), info[0].ToString(), IPV6_DROP_MEMBERSHIP);
    return info.Env().Undefined();
  }

  Napi::Value Errors(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), errors_); }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Teardown();
    return info.Env().Undefined();
  }
};

}  // namespace

void InitRawIp(Napi::Env env, Napi::Object exports) {
  exports.Set("RawIpSocket", RawIpSocket::Init(env));
  exports.Set("RawIp6Socket", RawIp6Socket::Init(env));
}

}  // namespace lvsd
