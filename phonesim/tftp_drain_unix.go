//go:build unix

package phonesim

import (
	"net"
	"syscall"
)

// drainUDP reads and drops the datagrams queued on c without waiting, so
// a reused socket starts clean. A read deadline in the past would not do:
// Go then fails the read without asking the kernel.
func drainUDP(c *net.UDPConn) {
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	var b [16]byte
	_ = raw.Read(func(fd uintptr) bool {
		for range 64 {
			if _, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_DONTWAIT); err != nil {
				break
			}
		}
		return true // done, whatever the kernel said: never wait
	})
}
