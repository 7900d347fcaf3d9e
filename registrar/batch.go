package registrar

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"time"

	"golang.org/x/net/ipv4"

	"selfprov/provision"
)

// finished hands a REGISTER the store has answered to the responder. It
// runs on the store's batch goroutine, so it only queues.
func (s *Server) finished(j *job) {
	s.doneMu.Lock()
	s.doneQ = append(s.doneQ, j)
	s.doneMu.Unlock()
	select {
	case s.doneWake <- struct{}{}:
	default: // already woken; it takes the whole queue
	}
}

// respond answers the REGISTERs the store has answered, a batch at a time:
// one goroutine wakes for a batch of auto-registrations, not one each, and
// the answers (and restart NOTIFYs) for one stream connection go out in
// one write.
func (s *Server) respond() {
	var batch []*job
	var dgrams udpGather
	for {
		select {
		case <-s.shutdown:
			return
		case <-s.doneWake:
		}
		s.doneMu.Lock()
		batch, s.doneQ = s.doneQ, batch[:0]
		s.doneMu.Unlock()
		s.answer(batch, &dgrams)
		clear(batch)
	}
}

// sentNotify is a restart NOTIFY sent with a batch's answers.
type sentNotify struct {
	o      outgoing
	branch string
}

// streamOut is what one stream connection gets from a batch.
type streamOut struct {
	tr      Transport
	src     string
	buf     *bytes.Buffer
	notifys []sentNotify
}

// batchOut gathers a batch's answers: a buffer per stream connection and
// the UDP datagrams, sent together with sendmmsg.
type batchOut struct {
	streams  []*streamOut
	dgrams   *udpGather
	dnotifys []datagramNotify
}

// datagramNotify is a restart NOTIFY among a batch's datagrams.
type datagramNotify struct {
	sentNotify
	i int // in dgrams
}

func (b *batchOut) stream(tr Transport, src string) *streamOut {
	for _, o := range b.streams {
		if o.tr == tr && o.src == src {
			return o
		}
	}
	o := &streamOut{tr: tr, src: src, buf: bufPool.Get().(*bytes.Buffer)}
	o.buf.Reset()
	b.streams = append(b.streams, o)
	return o
}

// answer sends the answers of one batch. A created device is restarted so
// it fetches its new configuration. dgrams is the responder's, empty
// between batches.
func (s *Server) answer(batch []*job, dgrams *udpGather) {
	out := batchOut{dgrams: dgrams}
	now := s.clock.Now()
	for _, j := range batch {
		s.waiting.Add(-1)
		s.answerOne(j, now, &out)
		if j.key != "" {
			s.inflight.Delete(j.key)
		}
	}
	for _, o := range out.streams {
		err := s.writeStream(o.tr, o.src, o.buf.Bytes(), responderWriteTimeout, false)
		if err != nil {
			s.log.Debug("sip answer not sent", "err", err)
		}
		for _, n := range o.notifys {
			s.notifier.written(n.o, n.branch, err)
		}
		bufPool.Put(o.buf)
	}
	errs := s.sendGathered(dgrams)
	for _, n := range out.dnotifys {
		s.notifier.written(n.o, n.branch, errs[n.i])
	}
}

func (s *Server) answerOne(j *job, now time.Time, out *batchOut) {
	if j.err != nil {
		s.replyError(j.in, j.id, j.err)
		return
	}
	s.table.put(j.id.name, j.b, now, j.granted, true)
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		// Refusals are logged with their code in replyError; a
		// registration the store confirmed logs OK (refreshes in between
		// do not).
		s.log.Debug("register", "device", j.id.name, "aor", j.b.AOR, "transport", j.in.tr.String(), "created", j.created, "code", "OK")
	}
	var restart outgoing
	if j.created {
		s.m.autoregs.Inc()
		// A phone that has just been created holds no config of its own:
		// the zero ConfigVersionStamp tells it to fetch everything, and
		// nothing is rendered on this path to learn the file's stamp.
		restart = outgoing{name: j.id.name, action: provision.ActionRestart}
	}
	if j.in.tr == UDP {
		s.render200(&out.dgrams.buf, j.in, j.c, j.granted, true)
		out.dgrams.end(j.in.ap)
		if !j.created {
			return
		}
		if branch, p := s.notifier.prepare(restart, nil); p != nil {
			i := out.dgrams.add(p.data, j.in.ap)
			out.dnotifys = append(out.dnotifys, datagramNotify{sentNotify{restart, branch}, i})
		}
		return
	}
	o := out.stream(j.in.tr, j.in.src)
	s.render200(o.buf, j.in, j.c, j.granted, true)
	if !j.created {
		return
	}
	// The NOTIFY goes in the same write as the 200, right after it.
	if branch, p := s.notifier.prepare(restart, o.buf); p != nil {
		o.notifys = append(o.notifys, sentNotify{restart, branch})
	}
}

// sendDatagrams sends ms from pc in as few system calls as the kernel
// allows (sendmmsg), and returns each one's error. A datagram the batch
// call refuses is sent alone, so that it fails only itself.
func (s *Server) sendDatagrams(pc net.PacketConn, ms []ipv4.Message) []error {
	errs := make([]error, len(ms))
	for i := 0; i < len(ms); {
		n := 0
		if s.udpBatch != nil { // pc is s.udpConn
			n, _ = s.udpBatch.WriteBatch(ms[i:], 0)
		}
		if n <= 0 {
			errs[i] = sendUDP(pc, ms[i].Buffers[0], ms[i].Addr.(*net.UDPAddr).AddrPort())
			n = 1
		}
		i += n
	}
	return errs
}
