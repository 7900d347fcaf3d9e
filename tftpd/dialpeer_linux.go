package tftpd

import (
	"net"
	"os"
	"syscall"
)

// dialPeer opens a transfer's socket, connected to the peer, from local
// when it is known. It is made with the system calls it needs (socket,
// bind, connect) and given to the runtime's poller as a file, which
// net.DialUDP did with four more (a socket option, reading both
// addresses back, and more). An IPv6 peer with a zone goes through
// net.DialUDP, which resolves the zone.
func dialPeer(local net.IP, peer *net.UDPAddr) (peerConn, error) {
	var sa, la syscall.Sockaddr
	family := syscall.AF_INET
	if ip4 := peer.IP.To4(); ip4 != nil && (local == nil || local.To4() != nil) {
		sa = &syscall.SockaddrInet4{Port: peer.Port, Addr: [4]byte(ip4)}
		if local != nil {
			la = &syscall.SockaddrInet4{Addr: [4]byte(local.To4())}
		}
	} else if ip6 := peer.IP.To16(); ip6 != nil && peer.Zone == "" && peer.IP.To4() == nil && (local == nil || local.To4() == nil) {
		family = syscall.AF_INET6
		sa = &syscall.SockaddrInet6{Port: peer.Port, Addr: [16]byte(ip6)}
		if local != nil {
			la = &syscall.SockaddrInet6{Addr: [16]byte(local.To16())}
		}
	} else {
		return dialPeerNet(local, peer)
	}
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if la != nil {
		if err := syscall.Bind(fd, la); err != nil {
			syscall.Close(fd)
			return nil, os.NewSyscallError("bind", err)
		}
	}
	if err := syscall.Connect(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("connect", err)
	}
	// A non-blocking descriptor becomes a file the poller waits on, with
	// read deadlines.
	return os.NewFile(uintptr(fd), "tftp"), nil
}
