// AF_PACKET socket with a TPACKET_V3 RX ring and a TPACKET_V3 TX ring, both
// mapped once and handed to JS as ONE external ArrayBuffer (RX ring first,
// then TX ring, exactly the kernel's mmap layout). One buffer for both rings
// lets JS move a frame from an RX block to a TX slot with
// Uint8Array.copyWithin: a memcpy with no allocation per packet.
//
// JS owns the ring protocol (src/io/ring.ts): it reads block_status, hands
// blocks back by writing TP_STATUS_KERNEL, fills TX slots and sets
// TP_STATUS_SEND_REQUEST, then calls kick() once per batch. The kernel only
// looks at TX slots inside send(), so the kick is the publication point; RX
// status words are read/written with plain loads/stores, which is correct on
// x86-64 (TSO) — the machines this runs on. A weakly ordered CPU would need a
// barrier call here.
//
// TX uses TPACKET_V3 too: the version is per socket, and since Linux 4.11 V3
// TX works with fixed-size slots (tp_next_offset must stay 0).
#include "packet_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "poll.h"
#include "util.h"

namespace lvsd {

namespace {

// The mapping outlives close() only as long as JS holds the ArrayBuffer; close()
// detaches the buffer first (every view becomes length 0, so no JS access can
// touch unmapped memory) and unmaps at once.
struct Mapping {
  void* addr = nullptr;
  size_t len = 0;
  int refs = 0;
  void Unmap() {
    if (addr) munmap(addr, len);
    addr = nullptr;
  }
  void Release() {
    if (--refs == 0) {
      Unmap();
      delete this;
    }
  }
};

uint32_t OptU32(Napi::Object o, const char* key, uint32_t dflt) {
  if (!o.Has(key)) return dflt;
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d < 0 || d > 4294967295.0 || d != static_cast<double>(static_cast<uint32_t>(d))) {
    throw Napi::RangeError::New(o.Env(), std::string("option ") + key + " must be an unsigned 32-bit integer");
  }
  return static_cast<uint32_t>(d);
}

bool OptBool(Napi::Object o, const char* key, bool dflt) {
  if (!o.Has(key)) return dflt;
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  return v.ToBoolean().Value();
}

bool IsPow2(uint32_t v) { return v && !(v & (v - 1)); }

// Flat [code, jt, jf, k, code, jt, jf, k, ...] (Uint32Array or number[]) or
// [[code, jt, jf, k], ...].
std::vector<sock_filter> ParseFilter(Napi::Env env, Napi::Value v) {
  std::vector<sock_filter> prog;
  auto push = [&](double code, double jt, double jf, double k) {
    if (code < 0 || code > 0xffff || jt < 0 || jt > 255 || jf < 0 || jf > 255 || k < 0 || k > 4294967295.0) {
      throw Napi::RangeError::New(env, "BPF instruction field out of range at index " + std::to_string(prog.size()));
    }
    sock_filter f;
    f.code = static_cast<uint16_t>(code);
    f.jt = static_cast<uint8_t>(jt);
    f.jf = static_cast<uint8_t>(jf);
    f.k = static_cast<uint32_t>(k);
    prog.push_back(f);
  };
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() != napi_uint32_array) throw Napi::TypeError::New(env, "filter typed array must be a Uint32Array");
    Napi::Uint32Array a = v.As<Napi::Uint32Array>();
    if (a.ElementLength() % 4) throw Napi::RangeError::New(env, "filter Uint32Array length must be a multiple of 4");
    for (size_t i = 0; i < a.ElementLength(); i += 4) push(a[i], a[i + 1], a[i + 2], a[i + 3]);
  } else if (v.IsArray()) {
    Napi::Array a = v.As<Napi::Array>();
    uint32_t n = a.Length();
    if (n > 0 && a.Get(0u).IsArray()) {
      for (uint32_t i = 0; i < n; i++) {
        Napi::Value e = a.Get(i);
        if (!e.IsArray() || e.As<Napi::Array>().Length() != 4) throw Napi::TypeError::New(env, "each BPF instruction must be [code, jt, jf, k]");
        Napi::Array ins = e.As<Napi::Array>();
        push(ins.Get(0u).ToNumber().DoubleValue(), ins.Get(1u).ToNumber().DoubleValue(),
             ins.Get(2u).ToNumber().DoubleValue(), ins.Get(3u).ToNumber().DoubleValue());
      }
    } else {
      if (n % 4) throw Napi::RangeError::New(env, "flat filter array length must be a multiple of 4");
      for (uint32_t i = 0; i < n; i += 4) {
        push(a.Get(i).ToNumber().DoubleValue(), a.Get(i + 1).ToNumber().DoubleValue(),
             a.Get(i + 2).ToNumber().DoubleValue(), a.Get(i + 3).ToNumber().DoubleValue());
      }
    }
  } else {
    throw Napi::TypeError::New(env, "filter must be a Uint32Array or an array of [code, jt, jf, k]");
  }
  if (prog.empty() || prog.size() > BPF_MAXINSNS) {
    throw Napi::RangeError::New(env, "BPF program must have 1.." + std::to_string(BPF_MAXINSNS) + " instructions");
  }
  return prog;
}

void AttachFilter(Napi::Env env, int fd, const std::vector<sock_filter>& prog) {
  sock_fprog fp;
  fp.len = static_cast<unsigned short>(prog.size());
  fp.filter = const_cast<sock_filter*>(prog.data());
  // SO_ATTACH_FILTER swaps the program in one step: no window without a filter.
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp) < 0) ThrowErrno(env, "setsockopt", errno, "SO_ATTACH_FILTER");
}

class PacketSocket : public PolledSocket<PacketSocket> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "PacketSocket", {
      // start(onReadable: (err?: Error) => void): level-triggered; fires while any
      // RX block is user-owned, so JS must drain (or at least return) blocks.
      InstanceMethod("start", &PacketSocket::Start),
      InstanceMethod("stop", &PacketSocket::Stop),
      InstanceMethod("kick", &PacketSocket::Kick),
      InstanceMethod("setFilter", &PacketSocket::SetFilter),
      InstanceMethod("attachBpf", &PacketSocket::AttachBpf),
      InstanceMethod("detachFilter", &PacketSocket::DetachFilter),
      InstanceMethod("stats", &PacketSocket::Stats),
      InstanceMethod("setFanout", &PacketSocket::SetFanout),
      InstanceMethod("fanoutInfo", &PacketSocket::FanoutInfo),
      InstanceMethod("setFanoutData", &PacketSocket::SetFanoutData),
      InstanceMethod("sendVnet", &PacketSocket::SendVnet),
      InstanceMethod("sendVnetAt", &PacketSocket::SendVnetAt),
      InstanceMethod("close", &PacketSocket::Close),
    });
  }

  // new PacketSocket(ifname, opts)
  explicit PacketSocket(const Napi::CallbackInfo& info) : PolledSocket<PacketSocket>(info, "packet socket", "PacketSocket") {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "openPacket(ifname, opts): ifname must be a string");
    std::string ifname = info[0].As<Napi::String>();
    Napi::Object opts = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);

    // Many smaller blocks: at low rates each 1 ms timeout retires a block holding
    // few frames, so the block COUNT bounds how long JS may stall before drops.
    uint32_t rxBlockSize = OptU32(opts, "rxBlockSize", 256u << 10);
    uint32_t rxBlockCount = OptU32(opts, "rxBlockCount", 64);
    uint32_t rxFrameSize = OptU32(opts, "rxFrameSize", 2048);
    uint32_t rxBlockTimeoutMs = OptU32(opts, "rxBlockTimeoutMs", 1);
    // TPACKET_V3 hands user space whole blocks: a frame waits until its block
    // is full or the retire timer (>= 1 ms) fires, and the kernel wakes the
    // reader only then. TPACKET_V2 marks and signals every frame as it lands,
    // so a quiet flow's packet is walked at once; under load frames still
    // pile up between wake-ups and are walked as a batch. The version is per
    // socket, so it sets the TX ring's slot header too.
    uint32_t rxVersion = OptU32(opts, "rxVersion", 3);
    if (rxVersion != 2 && rxVersion != 3) throw Napi::RangeError::New(env, "rxVersion must be 2 or 3");
    uint32_t txFrameSize = OptU32(opts, "txFrameSize", 0);  // 0: sized from the MTU below
    uint32_t txFrameCount = OptU32(opts, "txFrameCount", 0);  // 0: sized from the slot size below
    uint32_t txBlockSize = OptU32(opts, "txBlockSize", 64u << 10);
    bool qdiscBypass = OptBool(opts, "qdiscBypass", true);
    bool ignoreOutgoing = OptBool(opts, "ignoreOutgoing", true);
    // The ethertype the socket is bound to. ETH_P_ALL (default) makes it a
    // tap: it sees every frame before the device's ingress hooks (tc, netdev
    // nftables). A single protocol (ETH_P_IP, ETH_P_IPV6) makes it a protocol
    // handler: it sees only frames that passed those hooks, as ip_rcv does.
    uint32_t bindProto = OptU32(opts, "protocol", ETH_P_ALL);
    if (bindProto == 0 || bindProto > 0xffff) throw Napi::RangeError::New(env, "protocol must be an ethertype in 1..0xffff");
    bindProto_ = static_cast<uint16_t>(bindProto);
    // PACKET_VNET_HDR on the ring socket: every RX frame has a virtio_net_hdr
    // in front (GSO type and size, checksum state of a TSO/GRO super-frame),
    // and every TX slot carries one too (all zero for an ordinary frame).
    bool vnetHdr = OptBool(opts, "vnetHdr", false);
    uint32_t vnetLen = vnetHdr ? 10 : 0;
    long page = sysconf(_SC_PAGESIZE);
    if (!IsPow2(rxBlockSize) || rxBlockSize < page) throw Napi::RangeError::New(env, "rxBlockSize must be a power of two >= the page size");
    if (!IsPow2(txBlockSize) || txBlockSize < page) throw Napi::RangeError::New(env, "txBlockSize must be a power of two >= the page size");
    if (!IsPow2(rxFrameSize) || rxFrameSize < 128 || rxFrameSize > rxBlockSize) throw Napi::RangeError::New(env, "rxFrameSize must be a power of two in 128..rxBlockSize");
    IfInfo ii = GetIfInfo(env, ifname);
    if (txFrameSize == 0) {
      // A slot must hold the largest frame the engine may send: MTU + Ethernet
      // + one VLAN tag + an IPIP outer header (TUN), after the 48-byte slot header.
      uint32_t need = static_cast<uint32_t>(ii.mtu > 0 ? ii.mtu : 1500) + 14 + 4 + 20 + 48 + vnetLen;
      txFrameSize = 2048;
      while (txFrameSize < need) txFrameSize <<= 1;
      if (txBlockSize < txFrameSize) txBlockSize = txFrameSize;
    }
    if (txFrameCount == 0) {
      // About 8 MiB of slots, 512..4096 of them: enough that a kick at half
      // full leaves the kernel a whole half to send while JS fills the other
      // (4096 slots of 2 KiB at MTU 1500, 512 of 16 KiB at MTU 9000).
      txFrameCount = (8u << 20) / txFrameSize;
      if (txFrameCount < 512) txFrameCount = 512;
      if (txFrameCount > 4096) txFrameCount = 4096;
    }
    if (!IsPow2(txFrameSize) || txFrameSize < 128 || txFrameSize > txBlockSize) throw Napi::RangeError::New(env, "txFrameSize must be a power of two in 128..txBlockSize");
    if (rxBlockCount < 1 || txFrameCount < 1) throw Napi::RangeError::New(env, "rxBlockCount and txFrameCount must be >= 1");

    ifindex_ = ii.ifindex;

    // Protocol 0: the socket receives nothing until bind() names a protocol,
    // so the ring never holds frames the filter (attached before bind) would reject.
    fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) ThrowErrno(env, "socket", errno, "AF_PACKET");
    try {
      int v = rxVersion == 2 ? TPACKET_V2 : TPACKET_V3;
      if (setsockopt(fd_, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0) ThrowErrno(env, "setsockopt", errno, "PACKET_VERSION");
      if (vnetHdr) {
        // Before the rings: the kernel refuses it (EBUSY) once a ring exists.
        int one = 1;
        if (setsockopt(fd_, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) ThrowErrno(env, "setsockopt", errno, "PACKET_VNET_HDR");
      }
      if (ignoreOutgoing) {
        int one = 1;
        if (setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) ThrowErrno(env, "setsockopt", errno, "PACKET_IGNORE_OUTGOING");
      }
      if (qdiscBypass) {
        int one = 1;
        if (setsockopt(fd_, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0) ThrowErrno(env, "setsockopt", errno, "PACKET_QDISC_BYPASS");
      }
      {
        // A malformed TX frame is discarded (slot returned) instead of wedging the ring.
        int one = 1;
        if (setsockopt(fd_, SOL_PACKET, PACKET_LOSS, &one, sizeof one) < 0) ThrowErrno(env, "setsockopt", errno, "PACKET_LOSS");
      }
      // tpacket_req3 begins with tpacket_req's four fields; a V2 socket reads only those.
      socklen_t reqLen = rxVersion == 2 ? sizeof(tpacket_req) : sizeof(tpacket_req3);
      tpacket_req3 rx{};
      rx.tp_block_size = rxBlockSize;
      rx.tp_block_nr = rxBlockCount;
      rx.tp_frame_size = rxFrameSize;
      rx.tp_frame_nr = (rxBlockSize / rxFrameSize) * rxBlockCount;
      rx.tp_retire_blk_tov = rxBlockTimeoutMs;
      if (setsockopt(fd_, SOL_PACKET, PACKET_RX_RING, &rx, reqLen) < 0) ThrowErrno(env, "setsockopt", errno, "PACKET_RX_RING");
      uint32_t fpb = txBlockSize / txFrameSize;
      uint32_t txBlocks = (txFrameCount + fpb - 1) / fpb;
      tpacket_req3 tx{};
      tx.tp_block_size = txBlockSize;
      tx.tp_block_nr = txBlocks;
      tx.tp_frame_size = txFrameSize;
      tx.tp_frame_nr = txBlocks * fpb;
      if (setsockopt(fd_, SOL_PACKET, PACKET_TX_RING, &tx, reqLen) < 0) ThrowErrno(env, "setsockopt", errno, "PACKET_TX_RING");

      {
        // tpacket_snd stops at the socket's send buffer (EAGAIN under
        // MSG_DONTWAIT) and leaves the rest of the slots queued: with the
        // default wmem (~208 KiB) a kick of a few hundred small frames
        // already hits it, and the ring fills. Let the whole ring be in flight.
        int want = static_cast<int>(std::min<uint64_t>(static_cast<uint64_t>(txBlockSize) * ((txFrameCount + txBlockSize / txFrameSize - 1) / (txBlockSize / txFrameSize)) * 2, 1u << 30));
        if (setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want) < 0) {
          setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);  // capped at wmem_max without CAP_NET_ADMIN
        }
      }
      if (opts.Has("filter") && !opts.Get("filter").IsUndefined()) AttachFilter(env, fd_, ParseFilter(env, opts.Get("filter")));

      rxSize_ = static_cast<size_t>(rxBlockSize) * rxBlockCount;
      txSize_ = static_cast<size_t>(txBlockSize) * txBlocks;
      void* addr = mmap(nullptr, rxSize_ + txSize_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, 0);
      if (addr == MAP_FAILED) ThrowErrno(env, "mmap", errno, "packet rings");
      map_ = new Mapping();
      map_->addr = addr;
      map_->len = rxSize_ + txSize_;
      map_->refs = 1;

      sockaddr_ll sll{};
      sll.sll_family = AF_PACKET;
      sll.sll_protocol = htons(bindProto_);
      sll.sll_ifindex = ifindex_;
      if (bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0) ThrowErrno(env, "bind", errno, ifname);
      {
        // Protocol 0 and never bound: it only sends, and receives nothing.
        int vfd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        if (vfd >= 0 && setsockopt(vfd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) == 0) {
          // No PACKET_QDISC_BYPASS here: the direct path drops any skb that
          // validation replaces (a segmented super-frame, a checksum fixed up).
          vnetFd_ = vfd;
          // Each super-frame is up to 64 KiB in flight until the device
          // frees it; the default send buffer (~208 KiB) holds three, and a
          // fourth sent while the egress is busy fails with EAGAIN (a lost
          // segment run the sender must retransmit). Room for a burst.
          int want = 8 << 20;
          if (setsockopt(vfd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want) < 0) {
            setsockopt(vfd, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
          }
        } else if (vfd >= 0) {
          close(vfd);
        }
      }
      // The kernel only lets a bound, running socket join a fanout group.
      if (opts.Has("fanout") && !opts.Get("fanout").IsUndefined()) ApplyFanout(env, opts.Get("fanout"));

      map_->refs++;  // the ArrayBuffer's reference
      Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, addr, map_->len, [](Napi::Env, void*, Mapping* m) { m->Release(); }, map_);
      abRef_ = Napi::Persistent(ab);

      Napi::Object self = info.This().As<Napi::Object>();
      self.Set("buffer", ab);
      self.Set("fd", fd_);
      self.Set("ifname", ifname);
      self.Set("ifindex", ifindex_);
      self.Set("mac", MacToString(ii.mac));
      self.Set("mtu", ii.mtu);
      self.Set("rxBlockSize", rxBlockSize);
      self.Set("rxBlockCount", rxBlockCount);
      self.Set("rxFrameSize", rxFrameSize);
      self.Set("rxSize", static_cast<double>(rxSize_));
      self.Set("txOffset", static_cast<double>(rxSize_));
      self.Set("txSize", static_cast<double>(txSize_));
      self.Set("txBlockSize", txBlockSize);
      self.Set("txFrameSize", txFrameSize);
      self.Set("txFramesPerBlock", fpb);
      self.Set("txFrameCount", txBlocks * fpb);
      // TX data starts right after the slot header (tp_hdrlen - sizeof(sockaddr_ll)): 48 for V3, 32 for V2.
      size_t hdrLen = rxVersion == 2 ? TPACKET2_HDRLEN : TPACKET3_HDRLEN;
      self.Set("txDataOffset", static_cast<uint32_t>(hdrLen - sizeof(sockaddr_ll)));
      self.Set("rxVersion", rxVersion);
      self.Set("rxFrameCount", rx.tp_frame_nr);
      self.Set("vnetHdrLen", vnetLen);
    } catch (...) {
      Teardown();
      throw;
    }
  }

  ~PacketSocket() override { TeardownCollected(); }

 private:
  friend class PolledSocket<PacketSocket>;
  // Send-only companion socket with PACKET_VNET_HDR for sendVnet(), made with
  // the main socket so it lives in the same network namespace.
  int vnetFd_ = -1;
  int ifindex_ = 0;
  uint16_t bindProto_ = ETH_P_ALL;
  size_t rxSize_ = 0, txSize_ = 0;
  Mapping* map_ = nullptr;
  Napi::Reference<Napi::ArrayBuffer> abRef_;
  // PACKET_STATISTICS resets on every read; totals are kept here.
  double totPackets_ = 0, totDrops_ = 0, totFreeze_ = 0;

  // {group, mode, flags}: flags are the PACKET_FANOUT_FLAG_* bits (they may
  // also be ORed into mode). With PACKET_FANOUT_FLAG_UNIQUEID and group 0 the
  // kernel picks a free group id; fanoutInfo() reads it back for the others.
  void ApplyFanout(Napi::Env env, Napi::Value v) {
    if (!v.IsObject()) throw Napi::TypeError::New(env, "fanout must be {group, mode, flags}");
    Napi::Object o = v.As<Napi::Object>();
    uint32_t group = OptU32(o, "group", 0);
    uint32_t mode = OptU32(o, "mode", PACKET_FANOUT_HASH) | OptU32(o, "flags", 0);
    if (group > 0xffff) throw Napi::RangeError::New(env, "fanout group must be 0..65535");
    if (mode > 0xffff) throw Napi::RangeError::New(env, "fanout mode | flags must fit 16 bits");
    int arg = static_cast<int>(group | (mode << 16));
    if (setsockopt(fd_, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) < 0) ThrowErrno(env, "setsockopt", errno, "PACKET_FANOUT");
  }

  void Teardown() {
    StopPolling();
    if (!abRef_.IsEmpty()) {
      Napi::ArrayBuffer ab = abRef_.Value();
      if (!ab.IsEmpty() && !ab.IsDetached()) ab.Detach();
      abRef_.Reset();
    }
    if (map_) {
      map_->Unmap();
      map_->Release();
      map_ = nullptr;
    }
    CloseFds();
  }

  void CloseFds() {
    PolledSocket::CloseFds();
    if (vnetFd_ >= 0) close(vnetFd_);
    vnetFd_ = -1;
  }

  // libuv stops a poll handle on POLLERR (reported as EBADF). For a packet
  // socket that is sk_err: ENETDOWN when the link goes down (the kernel
  // re-hooks the socket when it comes back up). Reading SO_ERROR clears it;
  // then polling resumes, and JS hears about it once. A POLLERR that left
  // nothing in SO_ERROR (the error queue) stops the poll: start() again to retry.
  void OnPoll(int status) { EmitReadable(status, false); }

  // kick(): one send(fd, NULL, 0, MSG_DONTWAIT) publishes every TX slot marked
  // TP_STATUS_SEND_REQUEST. Returns bytes queued, or -errno for a transient
  // error (EAGAIN, ENOBUFS, ENETDOWN, ENXIO...); throws only on real bugs.
  Napi::Value Kick(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    ssize_t n;
    if (bindProto_ == ETH_P_ALL) {
      n = send(fd_, nullptr, 0, MSG_DONTWAIT);
    } else {
      // A socket bound to one protocol would stamp it on every TX frame
      // (skb->protocol = po->num), an IPv6 frame sent through the IPv4
      // socket included. Protocol 0 in the address makes tpacket_snd read
      // each frame's own ethertype, as for an ETH_P_ALL socket.
      sockaddr_ll sll{};
      sll.sll_family = AF_PACKET;
      sll.sll_protocol = 0;
      sll.sll_ifindex = ifindex_;
      n = sendto(fd_, nullptr, 0, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&sll), sizeof sll);
    }
    if (n < 0) {
      int err = errno;
      if (IsTransient(err) || err == EMSGSIZE || err == EINVAL) return Napi::Number::New(env, -err);
      ThrowErrno(env, "send", err, "(TX ring kick)");
    }
    return Napi::Number::New(env, static_cast<double>(n));
  }

  Napi::Value SetFilter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    if (info.Length() < 1) throw Napi::TypeError::New(env, "setFilter(insns) needs a program");
    AttachFilter(env, fd_, ParseFilter(env, info[0]));
    return env.Undefined();
  }

  // attachBpf(progFd): an eBPF socket filter (SO_ATTACH_BPF) in place of the
  // classic one, swapped in one step as SO_ATTACH_FILTER swaps; setFilter()
  // puts a classic program back the same way.
  Napi::Value AttachBpf(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "attachBpf(progFd: number)");
    int pfd = info[0].As<Napi::Number>().Int32Value();
    if (setsockopt(fd_, SOL_SOCKET, SO_ATTACH_BPF, &pfd, sizeof pfd) < 0) ThrowErrno(env, "setsockopt", errno, "SO_ATTACH_BPF");
    return env.Undefined();
  }

  Napi::Value DetachFilter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    int dummy = 0;
    if (setsockopt(fd_, SOL_SOCKET, SO_DETACH_FILTER, &dummy, sizeof dummy) < 0 && errno != ENOENT) {
      ThrowErrno(env, "setsockopt", errno, "SO_DETACH_FILTER");
    }
    return env.Undefined();
  }

  Napi::Value SetFanout(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    ApplyFanout(env, info[0]);
    return env.Undefined();
  }

  // fanoutInfo(): the group this socket is in, as getsockopt(PACKET_FANOUT)
  // reports it (id | type << 16 | flags << 24), or null when it is in none.
  Napi::Value FanoutInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    uint32_t v = 0;
    socklen_t len = sizeof v;
    if (getsockopt(fd_, SOL_PACKET, PACKET_FANOUT, &v, &len) < 0) ThrowErrno(env, "getsockopt", errno, "PACKET_FANOUT");
    if (v == 0) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("group", v & 0xffff);
    o.Set("mode", (v >> 16) & 0xff);
    o.Set("flags", ((v >> 24) & 0xff) << 8);
    return o;
  }

  // setFanoutData(prog): the classic-BPF program of a PACKET_FANOUT_CBPF
  // group (PACKET_FANOUT_DATA). One program per group, set through any
  // member; it returns the member index (the kernel takes it modulo the
  // member count). The kernel swaps it under RCU: frames never see no program.
  Napi::Value SetFanoutData(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    if (info.Length() < 1) throw Napi::TypeError::New(env, "setFanoutData(insns) needs a program");
    std::vector<sock_filter> prog = ParseFilter(env, info[0]);
    sock_fprog fp;
    fp.len = static_cast<unsigned short>(prog.size());
    fp.filter = prog.data();
    if (setsockopt(fd_, SOL_PACKET, PACKET_FANOUT_DATA, &fp, sizeof fp) < 0) ThrowErrno(env, "setsockopt", errno, "PACKET_FANOUT_DATA");
    return env.Undefined();
  }

  // Cumulative since open: packets = frames that reached the socket (the
  // kernel counts drops in it too), drops = frames lost because the ring was
  // full, freezeQueue = times the ring froze (all blocks user-owned).
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    tpacket_stats_v3 st{};
    socklen_t len = sizeof st;
    if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0) ThrowErrno(env, "getsockopt", errno, "PACKET_STATISTICS");
    totPackets_ += st.tp_packets;
    totDrops_ += st.tp_drops;
    totFreeze_ += st.tp_freeze_q_cnt;
    Napi::Object o = Napi::Object::New(env);
    o.Set("packets", totPackets_);
    o.Set("drops", totDrops_);
    o.Set("freezeQueue", totFreeze_);
    return o;
  }

  // sendVnet(frame: Uint8Array, vnet: {flags, gsoType, hdrLen, gsoSize, csumStart, csumOffset}):
  // one frame with a virtio_net_hdr through a companion socket, so the kernel
  // completes a partial L4 checksum (flags NEEDS_CSUM) and/or segments a
  // super-frame (gsoType/gsoSize) on the way out — what the TX ring cannot do
  // without 64 KiB slots. One syscall, but per super-frame, not per segment.
  // Returns bytes sent or -errno (transient, or EINVAL for a header the kernel rejects).
  Napi::Value SendVnet(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsObject()) {
      throw Napi::TypeError::New(env, "sendVnet(frame: Uint8Array, vnet: {flags, gsoType, hdrLen, gsoSize, csumStart, csumOffset})");
    }
    Napi::Uint8Array frame = info[0].As<Napi::Uint8Array>();
    Napi::Object o = info[1].As<Napi::Object>();
    if (frame.ByteLength() < 14) throw Napi::RangeError::New(env, "sendVnet: a frame has at least 14 bytes");
    if (vnetFd_ < 0) {
      Napi::Error e = Napi::Error::New(env, "sendVnet: the companion socket could not be opened (PACKET_VNET_HDR unsupported?)");
      e.Set("code", Napi::String::New(env, "ENOTSUP"));
      throw e;
    }
    struct {
      uint8_t flags, gso_type;
      uint16_t hdr_len, gso_size, csum_start, csum_offset;
    } __attribute__((packed)) vh;
    static_assert(sizeof(vh) == 10, "virtio_net_hdr is 10 bytes");
    // Little-endian fields: packet sockets use the host's (x86-64) virtio byte order.
    vh.flags = static_cast<uint8_t>(OptU32(o, "flags", 0));
    vh.gso_type = static_cast<uint8_t>(OptU32(o, "gsoType", 0));
    vh.hdr_len = static_cast<uint16_t>(OptU32(o, "hdrLen", 0));
    vh.gso_size = static_cast<uint16_t>(OptU32(o, "gsoSize", 0));
    vh.csum_start = static_cast<uint16_t>(OptU32(o, "csumStart", 0));
    vh.csum_offset = static_cast<uint16_t>(OptU32(o, "csumOffset", 0));
    iovec iov[2] = {{&vh, sizeof vh}, {frame.Data(), frame.ByteLength()}};
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = ifindex_;
    memcpy(&sll.sll_protocol, frame.Data() + 12, 2);  // the frame's own ethertype
    sll.sll_halen = 6;
    memcpy(sll.sll_addr, frame.Data(), 6);
    msghdr msg{};
    msg.msg_name = &sll;
    msg.msg_namelen = sizeof sll;
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    ssize_t n = sendmsg(vnetFd_, &msg, MSG_DONTWAIT);
    if (n < 0) {
      int err = errno;
      if (IsTransient(err) || err == EINVAL || err == EMSGSIZE) return Napi::Number::New(env, -err);
      ThrowErrno(env, "sendmsg", err, "(vnet)");
    }
    return Napi::Number::New(env, static_cast<double>(n));
  }

  // sendVnetAt(buffer: ArrayBuffer, off, len): sendVnet for a frame already
  // in memory with its virtio_net_hdr in front: buffer[off, off+10) is the
  // header, the frame follows. The data path's form: an RX ring frame (whose
  // PACKET_VNET_HDR header sits right before it) rewritten in place goes out
  // with no JS object made. Bytes sent or -errno (never throws on the frame).
  Napi::Value SendVnetAt(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0 || vnetFd_ < 0) return Napi::Number::New(env, -EBADF);
    if (info.Length() < 3 || !info[0].IsArrayBuffer() || !info[1].IsNumber() || !info[2].IsNumber()) {
      throw Napi::TypeError::New(env, "sendVnetAt(buffer: ArrayBuffer, off: number, len: number)");
    }
    Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
    double off = info[1].As<Napi::Number>().DoubleValue();
    double len = info[2].As<Napi::Number>().DoubleValue();
    size_t size = ab.ByteLength();
    if (!(off >= 0) || !(len >= 10 + 14) || off + len > static_cast<double>(size) || ab.Data() == nullptr) {
      return Napi::Number::New(env, -EINVAL);
    }
    uint8_t* p = static_cast<uint8_t*>(ab.Data()) + static_cast<size_t>(off);
    uint8_t* frame = p + 10;
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = ifindex_;
    memcpy(&sll.sll_protocol, frame + 12, 2);
    sll.sll_halen = 6;
    memcpy(sll.sll_addr, frame, 6);
    ssize_t n = sendto(vnetFd_, p, static_cast<size_t>(len), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&sll), sizeof sll);
    if (n < 0) return Napi::Number::New(env, -errno);
    return Napi::Number::New(env, static_cast<double>(n));
  }

};

}  // namespace

// One unbound send-only AF_PACKET socket per network namespace, kept open:
// closing a packet socket waits for an RCU grace period (synchronize_net in
// packet_release, ~10 ms), far too slow to pay per frame.
// Each cached socket pins its namespace (a deleted netns and its links live on
// until the socket closes), so releaseSendSockets() lets a lab drop them.
// The map is process-wide and the addon may be loaded by several threads
// (lvsd --workers): a mutex guards it. A socket released while another
// thread sends on it fails that one send with EBADF (a lab's teardown only).
std::map<ino_t, int> sendSockets;
std::mutex sendSocketsMutex;

Napi::Value ReleaseSendSockets(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(sendSocketsMutex);
  for (auto& kv : sendSockets) close(kv.second);
  sendSockets.clear();
  return info.Env().Undefined();
}

int SendSocketForCurrentNetns(Napi::Env env) {
  struct stat st;
  if (stat("/proc/thread-self/ns/net", &st) < 0) ThrowErrno(env, "stat", errno, "/proc/thread-self/ns/net");
  std::lock_guard<std::mutex> lock(sendSocketsMutex);
  auto it = sendSockets.find(st.st_ino);
  if (it != sendSockets.end()) return it->second;
  // Protocol 0: never receives, so it costs nothing on the RX path.
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) ThrowErrno(env, "socket", errno, "AF_PACKET");
  sendSockets[st.st_ino] = fd;
  return fd;
}

// sendFrame(ifname, frame): sends one whole Ethernet frame, outside any ring,
// for rare frames (gratuitous ARP).
Napi::Value SendFrame(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsTypedArray()) {
    throw Napi::TypeError::New(env, "sendFrame(ifname, frame: Uint8Array)");
  }
  std::string ifname = info[0].As<Napi::String>();
  Napi::Uint8Array frame = info[1].As<Napi::Uint8Array>();
  if (frame.ByteLength() < 14) throw Napi::RangeError::New(env, "sendFrame: a frame has at least 14 bytes");
  int ifindex = IfIndex(env, ifname);
  int fd = SendSocketForCurrentNetns(env);
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = ifindex;
  sll.sll_halen = 6;
  memcpy(sll.sll_addr, frame.Data(), 6);
  ssize_t n = sendto(fd, frame.Data(), frame.ByteLength(), 0, reinterpret_cast<sockaddr*>(&sll), sizeof sll);
  if (n < 0) {
    int err = errno;
    if (IsTransient(err)) return Napi::Number::New(env, -err);
    ThrowErrno(env, "sendto", err, ifname);
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

void InitPacketSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("PacketSocket", PacketSocket::Init(env));
  exports.Set("sendFrame", Napi::Function::New(env, SendFrame, "sendFrame"));
  exports.Set("releaseSendSockets", Napi::Function::New(env, ReleaseSendSockets, "releaseSendSockets"));
}

}  // namespace lvsd
