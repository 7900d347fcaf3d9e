package phonesim_test

import (
	"context"
	"testing"
	"time"

	"selfprov/phonesim"
)

// BenchmarkRegister measures the simulator's own cost per phone in
// register-only mode against the in-memory cluster: one op is one phone's
// REGISTER and 200 OK over a shared socket.
func BenchmarkRegister(b *testing.B) {
	for _, tp := range []string{"udp", "tcp"} {
		b.Run(tp, func(b *testing.B) {
			c, err := phonesimtestStart()
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ua := phonesim.NewUA()
			defer ua.Close()
			env := &phonesim.Env{UA: ua, SIP: c.SIPAddr, Transport: tp}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			f := &phonesim.Fleet{N: b.N, Mode: phonesim.ModeRegister, Seed: uint16(time.Now().UnixNano()), Concurrency: 200}
			b.ResetTimer()
			rep := f.Run(ctx, env)
			b.StopTimer()
			if rep.OK != b.N {
				b.Fatalf("%d of %d registered: %v", rep.OK, b.N, rep.Outcomes)
			}
			b.ReportMetric(rep.PhonesPerSec, "phones/s")
		})
	}
}
