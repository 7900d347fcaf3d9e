package phonesim

import "sync/atomic"

type counter struct{ n atomic.Int64 }

func (c *counter) add(d int64) { c.n.Add(d) }
func (c *counter) load() int64 { return c.n.Load() }

// States returns how many phones are in each state, by state name.
func (e *Env) States() map[string]int64 {
	m := make(map[string]int64, numStates)
	for s := State(0); s < numStates; s++ {
		m[s.String()] = e.states[s].load()
	}
	return m
}
