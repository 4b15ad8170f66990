// NETLINK_NETFILTER transport for lvsd's fwmark path: an NFQUEUE socket
// whose messages land in one external ArrayBuffer (JS parses them and
// writes its verdicts there too: src/packet/nfnetlink.ts, src/io/nfqueue.ts),
// and a one-shot request/acknowledge exchange for configuration (binding a
// queue, adding an nftables rule). No message format lives here: this file
// only moves bytes, batched.
//
// Layout of the buffer: `slots` receive slots of `slotSize` bytes, each
// message written `headroom` bytes into its slot (so the engine may write
// an Ethernet header, or a tunnel's outer header, in front of the packet
// it carries); then the send area (verdicts); then two u32 per slot: the
// message's length and its recvmsg flags (MSG_TRUNC: cut to the slot).
#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <set>
#include <vector>

#include "poll.h"
#include "util.h"

namespace lvsd {

namespace {

uint32_t OptU32(Napi::Object o, const char* key, uint32_t dflt, uint32_t min, uint32_t max) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return dflt;
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    throw Napi::RangeError::New(o.Env(), std::string("option ") + key + " must be an integer in " + std::to_string(min) + ".." + std::to_string(max));
  }
  return static_cast<uint32_t>(d);
}

int OpenNetfilter(Napi::Env env, bool nonblock) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), NETLINK_NETFILTER);
  if (fd < 0) ThrowErrno(env, "socket", errno, "AF_NETLINK NETLINK_NETFILTER");
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    int e = errno;
    close(fd);
    ThrowErrno(env, "bind", e, "AF_NETLINK NETLINK_NETFILTER");
  }
  return fd;
}

double NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// Sends the messages in [p, p+len) and waits for an acknowledgement (or
// error) of each one that asked for it (NLM_F_ACK). Returns [[seq, errno],
// ...] in arrival order, errno 0 for an ACK; a seq that got no answer in
// time is reported with ETIMEDOUT. Other messages that arrive meanwhile
// (none should: this runs before anything is queued) are skipped.
Napi::Value Transact(Napi::Env env, int fd, const uint8_t* p, size_t len, double timeoutMs) {
  std::set<uint32_t> want;
  for (size_t o = 0; o + sizeof(nlmsghdr) <= len;) {
    const nlmsghdr* h = reinterpret_cast<const nlmsghdr*>(p + o);
    if (h->nlmsg_len < sizeof(nlmsghdr) || o + h->nlmsg_len > len) throw Napi::RangeError::New(env, "transact: malformed netlink message at offset " + std::to_string(o));
    if (h->nlmsg_flags & NLM_F_ACK) want.insert(h->nlmsg_seq);
    o += NLMSG_ALIGN(h->nlmsg_len);
  }
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, p, len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) ThrowErrno(env, "sendto", errno, "NETLINK_NETFILTER");
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  std::vector<uint8_t> buf(65536);
  double deadline = NowMs() + timeoutMs;
  while (!want.empty()) {
    double left = deadline - NowMs();
    if (left <= 0) break;
    pollfd pfd{fd, POLLIN, 0};
    int pr = poll(&pfd, 1, static_cast<int>(left) + 1);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) continue;
    ssize_t r = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      ThrowErrno(env, "recv", errno, "NETLINK_NETFILTER");
    }
    for (size_t o = 0; o + sizeof(nlmsghdr) <= static_cast<size_t>(r);) {
      const nlmsghdr* h = reinterpret_cast<const nlmsghdr*>(buf.data() + o);
      if (h->nlmsg_len < sizeof(nlmsghdr) || o + h->nlmsg_len > static_cast<size_t>(r)) break;
      if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr))) {
        const nlmsgerr* e = reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(h));
        uint32_t seq = e->msg.nlmsg_seq;
        if (want.erase(seq)) {
          Napi::Array pair = Napi::Array::New(env, 2);
          pair.Set(0u, Napi::Number::New(env, seq));
          pair.Set(1u, Napi::Number::New(env, -e->error));
          out.Set(n++, pair);
        }
      }
      o += NLMSG_ALIGN(h->nlmsg_len);
    }
  }
  for (uint32_t seq : want) {
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, Napi::Number::New(env, seq));
    pair.Set(1u, Napi::Number::New(env, ETIMEDOUT));
    out.Set(n++, pair);
  }
  return out;
}

Napi::Value NetfilterTransact(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) throw Napi::TypeError::New(env, "netfilterTransact(messages: Uint8Array, timeoutMs?)");
  Napi::Uint8Array m = info[0].As<Napi::Uint8Array>();
  double timeout = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 2000;
  int fd = OpenNetfilter(env, true);
  try {
    Napi::Value r = Transact(env, fd, m.Data(), m.ByteLength(), timeout);
    close(fd);
    return r;
  } catch (...) {
    close(fd);
    throw;
  }
}

class NfqSocket : public PolledSocket<NfqSocket> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NfqSocket", {
      InstanceMethod("transact", &NfqSocket::TransactJs),
      InstanceMethod("recv", &NfqSocket::Recv),
      InstanceMethod("send", &NfqSocket::Send),
      // start(onReadable): level-triggered, as PacketSocket.start.
      InstanceMethod("start", &NfqSocket::Start),
      InstanceMethod("stop", &NfqSocket::Stop),
      InstanceMethod("close", &NfqSocket::Close),
    });
  }

  // new NfqSocket({slots, slotSize, headroom, sendSize, rcvbuf})
  explicit NfqSocket(const Napi::CallbackInfo& info) : PolledSocket<NfqSocket>(info, "nfqueue socket", "NfqSocket") {
    Napi::Env env = info.Env();
    Napi::Object o = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
    slots_ = OptU32(o, "slots", 64, 1, 1024);
    // A whole IPv4 packet (65535) plus the message around it.
    slotSize_ = OptU32(o, "slotSize", 65536 + 1024, 1024, 1u << 20) & ~7u;
    headroom_ = OptU32(o, "headroom", 128, 0, 4096) & ~7u;
    if (headroom_ + 256 > slotSize_) throw Napi::RangeError::New(env, "headroom leaves no room in a slot");
    sendSize_ = OptU32(o, "sendSize", 64u << 10, 4096, 16u << 20) & ~7u;
    uint32_t rcvbuf = OptU32(o, "rcvbuf", 16u << 20, 65536, 1u << 30);
    size_t total = static_cast<size_t>(slots_) * slotSize_ + sendSize_ + static_cast<size_t>(slots_) * 8;
    mem_ = static_cast<uint8_t*>(aligned_alloc(64, (total + 63) & ~static_cast<size_t>(63)));
    if (!mem_) throw Napi::Error::New(env, "NfqSocket: out of memory");
    memset(mem_, 0, total);
    fd_ = OpenNetfilter(env, true);
    int rb = static_cast<int>(rcvbuf);
    // FORCE: above rmem_max; a full socket buffer makes the kernel drop packets it would queue.
    if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof rb) < 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb);
    sockaddr_nl me{};
    socklen_t sl = sizeof me;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&me), &sl);
    msgs_.resize(slots_);
    iovs_.resize(slots_);
    for (uint32_t i = 0; i < slots_; i++) {
      iovs_[i].iov_base = mem_ + static_cast<size_t>(i) * slotSize_ + headroom_;
      iovs_[i].iov_len = slotSize_ - headroom_;
      msgs_[i].msg_hdr.msg_iov = &iovs_[i];
      msgs_[i].msg_hdr.msg_iovlen = 1;
    }
    // Finalizer frees nothing: close() (or the destructor) owns mem_, and detaches the buffer first.
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, mem_, total);
    abRef_ = Napi::Persistent(ab);
    Napi::Object self = info.This().As<Napi::Object>();
    self.Set("buffer", ab);
    self.Set("slots", slots_);
    self.Set("slotSize", slotSize_);
    self.Set("headroom", headroom_);
    self.Set("sendOffset", static_cast<double>(static_cast<size_t>(slots_) * slotSize_));
    self.Set("sendSize", sendSize_);
    self.Set("lensOffset", static_cast<double>(static_cast<size_t>(slots_) * slotSize_ + sendSize_));
    self.Set("portid", me.nl_pid);
  }

  ~NfqSocket() override { TeardownCollected(); }

 private:
  friend class PolledSocket<NfqSocket>;
  uint8_t* mem_ = nullptr;
  uint32_t slots_ = 0, slotSize_ = 0, headroom_ = 0, sendSize_ = 0;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;
  Napi::Reference<Napi::ArrayBuffer> abRef_;

  void Teardown() {
    StopPolling();
    if (!abRef_.IsEmpty()) {
      Napi::ArrayBuffer ab = abRef_.Value();
      if (!ab.IsEmpty() && !ab.IsDetached()) ab.Detach();
      abRef_.Reset();
    }
    // Closing the socket unbinds the queue: the kernel drops what it still held for us.
    CloseFds();
    free(mem_);
    mem_ = nullptr;
  }

  bool Closed() const { return fd_ < 0; }

  // transact(messages: Uint8Array, timeoutMs?): [[seq, errno], ...] (see Transact).
  Napi::Value TransactJs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    if (info.Length() < 1 || !info[0].IsTypedArray()) throw Napi::TypeError::New(env, "transact(messages: Uint8Array, timeoutMs?)");
    Napi::Uint8Array m = info[0].As<Napi::Uint8Array>();
    double timeout = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 2000;
    return Transact(env, fd_, m.Data(), m.ByteLength(), timeout);
  }

  // recv(): as many messages as are waiting, up to `slots`, in one
  // recvmmsg; their lengths and flags go to the lens area. Returns the
  // count, or -errno (EAGAIN: none; ENOBUFS: the socket buffer overflowed
  // and the kernel dropped packets it could not hand over).
  Napi::Value Recv(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (Closed()) return Napi::Number::New(env, -EBADF);
    for (uint32_t i = 0; i < slots_; i++) {
      msgs_[i].msg_hdr.msg_flags = 0;
      msgs_[i].msg_len = 0;
    }
    int n = recvmmsg(fd_, msgs_.data(), slots_, MSG_DONTWAIT, nullptr);
    if (n < 0) return Napi::Number::New(env, -errno);
    uint32_t* lens = reinterpret_cast<uint32_t*>(mem_ + static_cast<size_t>(slots_) * slotSize_ + sendSize_);
    for (int i = 0; i < n; i++) {
      lens[2 * i] = msgs_[i].msg_len;
      lens[2 * i + 1] = static_cast<uint32_t>(msgs_[i].msg_hdr.msg_flags);
    }
    return Napi::Number::New(env, n);
  }

  // send(len): the first `len` bytes of the send area to the kernel, in
  // one sendto. Bytes sent or -errno.
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (Closed()) return Napi::Number::New(env, -EBADF);
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "send(len: number)");
    double len = info[0].As<Napi::Number>().DoubleValue();
    if (!(len >= 0 && len <= sendSize_)) return Napi::Number::New(env, -EINVAL);
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    ssize_t r = sendto(fd_, mem_ + static_cast<size_t>(slots_) * slotSize_, static_cast<size_t>(len), 0,
                       reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
    if (r < 0) return Napi::Number::New(env, -errno);
    return Napi::Number::New(env, static_cast<double>(r));
  }

  // POLLERR on a netlink socket is sk_err (ENOBUFS after an overflow):
  // reading SO_ERROR clears it, polling resumes, JS hears of it once. A
  // netlink socket has no error queue, so polling resumes even when SO_ERROR
  // was already clear.
  void OnPoll(int status) { EmitReadable(status, true); }
};

}  // namespace

void InitNfqueue(Napi::Env env, Napi::Object exports) {
  exports.Set("NfqSocket", NfqSocket::Init(env));
  exports.Set("netfilterTransact", Napi::Function::New(env, NetfilterTransact, "netfilterTransact"));
}

}  // namespace lvsd
