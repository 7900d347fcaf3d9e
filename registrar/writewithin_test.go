package registrar

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// lateConn is a connection whose next late write deadlines have passed by
// the time the write begins, as when the process waits that long for a
// CPU between setting the deadline and writing.
type lateConn struct {
	net.Conn
	late int
}

func (c *lateConn) SetWriteDeadline(t time.Time) error {
	if c.late > 0 {
		c.late--
		t = time.Now().Add(-time.Millisecond)
	}
	return c.Conn.SetWriteDeadline(t)
}

func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestWriteWithinADeadlineThatPassedFirst: an answer whose write deadline
// passed before the write began, though the phone reads and there is
// room, is written: the connection is not given up on for the time its
// writer waited for a CPU. A second deadline passed as well fails, so a
// write stays bounded.
func TestWriteWithinADeadlineThatPassedFirst(t *testing.T) {
	client, server := tcpPair(t)
	answer := []byte("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")
	if n, err := writeWithin(&lateConn{Conn: server, late: 1}, answer, 100*time.Millisecond); err != nil || n != len(answer) {
		t.Fatalf("writeWithin: %d bytes, %v", n, err)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(answer))
	if _, err := io.ReadFull(client, got); err != nil || string(got) != string(answer) {
		t.Fatalf("the phone read %q, %v", got, err)
	}
	if _, err := writeWithin(&lateConn{Conn: server, late: 2}, answer, 100*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("with both deadlines passed: %v, want a deadline error", err)
	}
}

// TestWriteWithinAFullConnection: a phone that stops reading is given up
// on once its send buffer stays full for the timeout.
func TestWriteWithinAFullConnection(t *testing.T) {
	_, server := tcpPair(t)
	big := make([]byte, 1<<20)
	var err error
	for i := 0; i < 64 && err == nil; i++ { // at most 64 MiB into buffers nobody reads
		_, err = writeWithin(server.(*net.TCPConn), big, 50*time.Millisecond)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("writing to a phone that does not read: %v, want a deadline error", err)
	}
}
