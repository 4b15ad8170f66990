// Small python3 programs the lab runs inside its namespaces (python3 is
// there on every Debian host; these need nothing else).

/** Three gratuitous ARP replies for `ip` from `ifname`: what a director sends when it takes a VIP over. */
export function gratuitousArpScript(ip: string, ifname = 'eth0'): string {
  return `
import socket, struct
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('${ifname}', 0))
mac = s.getsockname()[4]
ipb = socket.inet_aton('${ip}')
arp = struct.pack('!HHBBH', 1, 0x0800, 6, 4, 2) + mac + ipb + b'\\xff' * 6 + ipb
for _ in range(3):
    s.send(b'\\xff' * 6 + mac + b'\\x08\\x06' + arp)
`;
}

/** A TCP sink on `port`: hashes each connection's bytes until EOF and answers "<bytes> <sha256>\n". */
export function hashSinkScript(port: number): string {
  return `
import hashlib, socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', ${port})); s.listen(4)
while True:
    c, _ = s.accept(); h = hashlib.sha256(); n = 0
    while True:
        b = c.recv(1 << 16)
        if not b: break
        h.update(b); n += len(b)
    c.sendall(('%d %s\\n' % (n, h.hexdigest())).encode()); c.close()
`;
}
