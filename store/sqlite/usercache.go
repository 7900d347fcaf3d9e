package sqlite

import (
	"slices"
	"sync"

	"selfprov/provision"
)

// cachedUsersPerGeneration bounds the decoded users kept: two generations
// of this many. A phone's login and its confirmation read the same user
// a moment apart; a boot storm has a few hundred logins in flight.
const cachedUsersPerGeneration = 2048

// userCache keeps the users last read, decoded, by the ID they were asked
// for (a user ID or a self-service ID). It is exact because this Store is
// the database's only writer (the lock file) and every write to the users
// table drops the whole cache after it commits (see the callers of drop);
// gen stops a read that raced a write from caching what it read. Dropping
// everything keeps self-service IDs, which another user may take, simple:
// user writes are rare beside the reads of a boot storm.
//
// A failed login writes its user's credential state, and an unknown user
// ID's failure writes as well (matching no row), so after any failure the
// next login reads the store whether or not the user exists.
type userCache struct {
	mu        sync.Mutex
	gen       uint64
	docs, old map[string]provision.User
}

// get returns a copy of the cached user, and the generation a reader that
// missed passes to fill.
func (c *userCache) get(key string) (u provision.User, ok bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u, ok = c.docs[key]; !ok {
		if u, ok = c.old[key]; ok {
			c.put(key, u)
		}
	}
	return cloneUser(u), ok, c.gen
}

// fill caches what a reader read, unless a write happened since it looked
// up gen: the read may then predate that write.
func (c *userCache) fill(key string, u provision.User, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	c.put(key, cloneUser(u))
}

// put stores u in the young generation; c.mu is held.
func (c *userCache) put(key string, u provision.User) {
	if c.docs == nil {
		c.docs = make(map[string]provision.User)
	}
	if _, ok := c.docs[key]; !ok && len(c.docs) >= cachedUsersPerGeneration {
		c.old, c.docs = c.docs, make(map[string]provision.User, cachedUsersPerGeneration)
	}
	delete(c.old, key)
	c.docs[key] = u
}

// drop forgets every user; called after each write to the users table.
func (c *userCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.docs, c.old = nil, nil
}

func cloneUser(u provision.User) provision.User {
	u.Groups = slices.Clone(u.Groups)
	return u
}
