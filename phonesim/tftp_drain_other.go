//go:build !unix

package phonesim

import "net"

// drainUDP does nothing where non-blocking reads are not at hand; a stray
// datagram is then left to the TID checks.
func drainUDP(*net.UDPConn) {}
