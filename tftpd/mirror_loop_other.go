//go:build !linux

package tftpd

// Without epoll, every connection of the mirror gets a goroutine.
const eventLoopsSupported = false

type eventLoops struct{}

func (m *HTTPMirror) startLoops() *eventLoops { return nil }
func (ls *eventLoops) adopt(*mirrorConn) bool { return false }
func (ls *eventLoops) wakeUp()                {}
