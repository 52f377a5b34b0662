#!/usr/bin/python3
"""Send one hand-made TCP SYN as a raw Ethernet frame and report whether a SYN-ACK comes back.

    firewall-synprobe.py IFACE DST_MAC SRC_IP DST_IP DPORT [WAIT_S]

Runs inside a lab host (it needs CAP_NET_RAW in that namespace). The frame goes out of
IFACE from IFACE's own MAC to DST_MAC, so the destination address can be anything the
sender likes (127.0.0.1, ::1): exactly what a hostile machine on the LAN can do. A packet
socket on the same interface watches for the answer (SYN+ACK from DPORT to our source
port), whatever its source address. Prints one line: `SYNACK <source address>` or `NONE`.
"""
import ipaddress
import random
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp_syn(sport: int, dport: int, pseudo_header) -> bytes:
    seq = random.getrandbits(32)
    # MSS option: some stacks answer a SYN without options, but this is what a client sends.
    opts = struct.pack('!BBH', 2, 4, 1460)
    hdr = struct.pack('!HHIIBBHHH', sport, dport, seq, 0, (5 + len(opts) // 4) << 4, 0x02, 64240, 0, 0) + opts
    pseudo = pseudo_header(len(hdr))
    c = csum(pseudo + hdr)
    return hdr[:16] + struct.pack('!H', c) + hdr[18:]


def main() -> None:
    iface, dst_mac, src_ip, dst_ip, dport = sys.argv[1:6]
    wait = float(sys.argv[6]) if len(sys.argv) > 6 else 1.5
    dport = int(dport)
    sport = random.randint(40000, 60000)
    src, dst = ipaddress.ip_address(src_ip), ipaddress.ip_address(dst_ip)
    with open(f'/sys/class/net/{iface}/address') as f:
        src_mac = bytes.fromhex(f.read().strip().replace(':', ''))
    dmac = bytes.fromhex(dst_mac.replace(':', ''))
    if src.version == 4:
        tcp = tcp_syn(sport, dport, lambda n: src.packed + dst.packed + struct.pack('!BBH', 0, 6, n))
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), random.getrandbits(16), 0x4000, 64, 6, 0, src.packed, dst.packed)
        ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
        frame = dmac + src_mac + struct.pack('!H', 0x0800) + ip + tcp
    else:
        tcp = tcp_syn(sport, dport, lambda n: src.packed + dst.packed + struct.pack('!I3xB', n, 6))
        ip = struct.pack('!IHBB16s16s', 6 << 28, len(tcp), 6, 64, src.packed, dst.packed)
        frame = dmac + src_mac + struct.pack('!H', 0x86DD) + ip + tcp

    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.send(frame)
    deadline = time.monotonic() + wait
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            print('NONE')
            return
        s.settimeout(left)
        try:
            data, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] == PACKET_OUTGOING:
            continue
        ethertype = struct.unpack('!H', data[12:14])[0]
        if ethertype == 0x0800 and data[23] == 6:
            ihl = (data[14] & 0x0F) * 4
            l4, saddr = data[14 + ihl:], ipaddress.ip_address(data[26:30])
        elif ethertype == 0x86DD and data[20] == 6:
            l4, saddr = data[54:], ipaddress.ip_address(data[22:38])
        else:
            continue
        sp, dp = struct.unpack('!HH', l4[:4])
        flags = l4[13]
        if sp == dport and dp == sport and flags & 0x12 == 0x12:
            print(f'SYNACK {saddr}')
            return


if __name__ == '__main__':
    main()
