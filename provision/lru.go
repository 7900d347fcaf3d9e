package provision

import "container/list"

// lru is a map bounded to max entries that drops the least recently used
// one when full. It is not safe for concurrent use; its owner locks.
type lru[K comparable, V any] struct {
	max int
	ll  *list.List // front: most recently used
	m   map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key K
	val V
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, ll: list.New(), m: make(map[K]*list.Element)}
}

// get returns the value of key and marks it used.
func (c *lru[K, V]) get(key K) (V, bool) {
	if e, ok := c.m[key]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*lruEntry[K, V]).val, true
	}
	var zero V
	return zero, false
}

// put sets the value of key, dropping the least recently used entry when
// the map is full.
func (c *lru[K, V]) put(key K, val V) {
	if e, ok := c.m[key]; ok {
		e.Value.(*lruEntry[K, V]).val = val
		c.ll.MoveToFront(e)
		return
	}
	if c.ll.Len() >= c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.m, old.Value.(*lruEntry[K, V]).key)
	}
	c.m[key] = c.ll.PushFront(&lruEntry[K, V]{key, val})
}

func (c *lru[K, V]) remove(key K) {
	if e, ok := c.m[key]; ok {
		c.ll.Remove(e)
		delete(c.m, key)
	}
}

func (c *lru[K, V]) len() int { return c.ll.Len() }
