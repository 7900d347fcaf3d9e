//go:build !linux

package tftpd

import "net"

// dialPeer opens a transfer's socket, connected to the peer, from local
// when it is known.
func dialPeer(local net.IP, peer *net.UDPAddr) (peerConn, error) {
	return dialPeerNet(local, peer)
}
