package tftpd

import (
	"encoding/binary"
	"net"
	"strconv"
	"testing"
	"time"
)

// BenchmarkFirmware downloads a 4 MiB file from the static folder with a
// lean RFC 7440 client at blksize 512, at 1428 and at 1428 with
// windowsize 8 (bench/tftp compares the same against tftpd-hpa and
// atftpd with a real client).
func BenchmarkFirmware(b *testing.B) {
	const size = 4 << 20
	dir := b.TempDir()
	if _, err := writeStaticBytes(dir, "fw.loads", size); err != nil {
		b.Fatal(err)
	}
	r := start(b, newEnv(b, nil), func(o *Options) { o.StaticDir = dir })
	server, _ := net.ResolveUDPAddr("udp", r.tftp)
	for _, bc := range []struct {
		name          string
		blksize, wsiz int
	}{{"blksize=512", 0, 0}, {"blksize=1428", 1428, 0}, {"blksize=1428,windowsize=8", 1428, 8}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				n, err := download(server, "fw.loads", bc.blksize, bc.wsiz)
				if err != nil || n != size {
					b.Fatalf("%d bytes, %v", n, err)
				}
			}
		})
	}
}

// download fetches name, asking for blksize and windowsize when not 0,
// acknowledging the last block of every window.
func download(server *net.UDPAddr, name string, blksize, window int) (int, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	fields := []string{name, "octet"}
	if blksize > 0 {
		fields = append(fields, "blksize", strconv.Itoa(blksize))
	}
	if window > 0 {
		fields = append(fields, "windowsize", strconv.Itoa(window))
	}
	if _, err := c.WriteTo(rrqPacket(opRRQ, fields...), server); err != nil {
		return 0, err
	}
	blk, win := max(blksize, 512), max(window, 1)
	buf := make([]byte, 4+blk)
	ack := []byte{0, opACK, 0, 0}
	var from net.Addr
	total, inWin := 0, 0
	expect := uint16(1)
	for {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, addr, err := c.ReadFrom(buf)
		if err != nil {
			return total, err
		}
		from = addr
		switch binary.BigEndian.Uint16(buf) {
		case opOACK:
			if _, err := c.WriteTo(ack, from); err != nil {
				return total, err
			}
			continue
		case opDATA:
		default:
			return total, net.UnknownNetworkError("answer " + strconv.Itoa(int(binary.BigEndian.Uint16(buf))))
		}
		if binary.BigEndian.Uint16(buf[2:]) != expect {
			continue
		}
		total += n - 4
		inWin++
		last := n-4 < blk
		if inWin == win || last {
			binary.BigEndian.PutUint16(ack[2:], expect)
			if _, err := c.WriteTo(ack, from); err != nil {
				return total, err
			}
			inWin = 0
		}
		if last {
			return total, nil
		}
		expect++
	}
}

// BenchmarkConfigs downloads device configs, 16 at a time, as a boot
// storm does (bench/tftp measures the same against other servers).
func BenchmarkConfigs(b *testing.B) {
	r := start(b, newEnv(b, nil), nil)
	server, _ := net.ResolveUDPAddr("udp", r.tftp)
	b.SetParallelism(8) // 16 on 2 CPUs
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if n, err := download(server, "SEP001122AABBCC.cnf.xml", 0, 0); err != nil || n == 0 {
				b.Errorf("%d bytes, %v", n, err)
				return
			}
		}
	})
}

// BenchmarkMirrorAnswer: the mirror's answer to a request already read,
// for a kept config and for an unknown device asked again, without the
// sockets (bench/http measures those against nginx).
func BenchmarkMirrorAnswer(b *testing.B) {
	e := newEnv(b, nil)
	r := start(b, e, nil)
	for _, name := range []string{"SEP001122AABBCC", "SEP0A1B2C3D4E5F"} {
		b.Run(name, func(b *testing.B) {
			mc := &mirrorConn{m: r.srv.HTTPServer()}
			req, _, err := readRequest([]byte("GET /" + name + ".cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n"))
			if err != nil {
				b.Fatal(err)
			}
			mc.setNow()
			mc.answer(req, true)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				mc.out = mc.out[:0]
				mc.answer(req, true)
			}
		})
	}
}
