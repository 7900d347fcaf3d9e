package tftpd

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// TestDialPeer: both ways of opening a transfer's socket (this system's,
// and net.DialUDP's, which other systems use) send from the local address
// asked for to the peer, read the peer's answer, and time out a read.
func TestDialPeer(t *testing.T) {
	for name, dial := range map[string]func(net.IP, *net.UDPAddr) (peerConn, error){
		"dialPeer": dialPeer, "dialPeerNet": dialPeerNet,
	} {
		t.Run(name, func(t *testing.T) {
			peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			local := net.IPv4(127, 0, 0, 1)
			conn, err := dial(local, peer.LocalAddr().(*net.UDPAddr))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte("data")); err != nil {
				t.Fatal(err)
			}
			peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 16)
			n, from, err := peer.ReadFromUDP(buf)
			if err != nil {
				t.Fatal(err)
			}
			if string(buf[:n]) != "data" || !from.IP.Equal(local) {
				t.Fatalf("peer read %q from %v, want %q from %v", buf[:n], from, "data", local)
			}
			// A stranger's datagram is not the peer's: a connected socket
			// never reads it.
			stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer stranger.Close()
			if _, err := stranger.WriteToUDP([]byte("stranger"), from); err != nil {
				t.Fatal(err)
			}
			if _, err := peer.WriteToUDP([]byte("ack"), from); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err = conn.Read(buf)
			if err != nil || string(buf[:n]) != "ack" {
				t.Fatalf("read %q, %v; want %q", buf[:n], err, "ack")
			}
			conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if n, err := conn.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read past the deadline: %q, %v; want a timeout", buf[:n], err)
			}
		})
	}
}
