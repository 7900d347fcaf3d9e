package tftpd

import (
	"bytes"
	"testing"
	"time"
)

// FuzzMirrorProcess: an event loop answers a connection's requests from
// memory and leaves it to a goroutine at the first that needs the store;
// whatever the bytes and however they arrive, the answers written are
// the bytes a goroutine alone writes, and the connection ends the same
// way. It would fail if answering from memory ever appended to an answer
// it then left to the goroutine, or skipped or repeated one.
func FuzzMirrorProcess(f *testing.F) {
	for _, s := range []string{
		"GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\nGET /SEP0A1B00000001.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\nHEAD /sep001122aabbcc.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /CTLSEP001122AABBCC.tlv HTTP/1.1\r\nHost: x\r\n\r\nGET /XMLDefault.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\nDELETE /x HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /SEP0A1B00000002.cnf.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ringlist.xml HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /SEP001122AABBCC.cnf.xml HTTP/1.0\r\n\r\n",
		"GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\nGET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n",
		"HELLO\r\n\r\n",
	} {
		f.Add([]byte(s), uint16(len(s)/2))
	}
	e := newEnv(f, nil)
	r := start(f, e, nil)
	if _, err := get(f, r.tftp, "SEP001122AABBCC.cnf.xml", nil); err != nil {
		f.Fatal(err)
	}
	m := r.srv.HTTPServer()
	now := time.Now()
	// serve feeds b in two reads, split at split, as a connection would:
	// onLoop starts on a loop (from memory) and moves to a goroutine.
	serve := func(b []byte, split int, onLoop bool) ([]byte, step) {
		mc := &mirrorConn{m: m, in: make([]byte, 0, readBufferSize)}
		mc.setClock(now)
		var st step
		for _, chunk := range [][]byte{b[:split], b[split:]} {
			mc.in = append(mc.in, chunk...)
			for {
				st = mc.process(!onLoop)
				if st == stepGoroutine {
					onLoop = false
					continue
				}
				if st != stepFlush {
					break
				}
			}
			if st != stepRead {
				break
			}
		}
		return mc.out, st
	}
	f.Fuzz(func(t *testing.T, b []byte, split uint16) {
		if len(b) > 4*maxHeaderBytes {
			return
		}
		cut := int(split) % (len(b) + 1)
		loopOut, loopStep := serve(b, cut, true)
		goOut, goStep := serve(b, cut, false)
		if loopStep != goStep || !bytes.Equal(loopOut, goOut) {
			t.Fatalf("from a loop: step %d, %d bytes\n%q\non a goroutine: step %d, %d bytes\n%q", loopStep, len(loopOut), loopOut, goStep, len(goOut), goOut)
		}
	})
}
