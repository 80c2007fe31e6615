// Package bucket holds token buckets that many goroutines (all of Envoy's
// worker threads, in the .so) take from at once without a lock.
//
// A Bucket is one int64 updated with compare-and-swap: the generic cell
// rate algorithm's "theoretical arrival time" (TAT). A bucket of Capacity
// tokens per Period refills one token every Period/Capacity continuously;
// it is full when TAT <= now and empty when TAT >= now+Period.
package bucket

import (
	"sync/atomic"
	"time"
)

// Limit is Capacity tokens per Period, refilled continuously.
type Limit struct {
	capacity uint64
	period   int64 // ns
	interval int64 // ns per token (rounded down: the limit never admits fewer than configured)
}

// NewLimit returns the limit capacity tokens per period. Capacity 0 admits
// nothing. Rates above one token per nanosecond are clamped to that.
func NewLimit(capacity uint64, period time.Duration) Limit {
	l := Limit{capacity: capacity, period: int64(period)}
	if capacity > 0 {
		l.interval = int64(period) / int64(min(capacity, uint64(period)))
	}
	return l
}

// Capacity is the burst size, in tokens.
func (l *Limit) Capacity() uint64 { return l.capacity }

// Period is the time in which Capacity tokens refill.
func (l *Limit) Period() time.Duration { return time.Duration(l.period) }

// Bucket is a lock-free token bucket. The zero value is full. All methods
// are safe for concurrent use; now is in nanoseconds on any monotonic
// clock that never goes below zero.
type Bucket struct {
	tat atomic.Int64
}

// Take takes n tokens if the bucket holds them. It returns whether it did,
// the whole tokens left afterwards, and the time until the bucket is full
// again.
//
// now was read before the bucket, so a concurrent taker with a later time
// may have moved the bucket on meanwhile; judged at the earlier now, the
// token it left looks not yet refilled. Admitting at a stale now is safe
// (it is stricter than the present), so only a refusal is settled again
// with clock read after the bucket's state: then every time already
// applied to the bucket is at most that reading, and time never goes
// backwards inside a bucket. clock is the same clock as now; nil trusts
// now as is.
func (b *Bucket) Take(l *Limit, now int64, n uint64, clock func() int64) (ok bool, remaining int64, reset time.Duration) {
	if l.capacity == 0 || n > l.capacity {
		return false, 0, time.Duration(l.period)
	}
	inc := int64(n) * l.interval
	for fresh := clock == nil; ; {
		tat := b.tat.Load()
		if fresh && clock != nil {
			now = max(now, clock())
		}
		base := max(tat, now)
		next := base + inc
		if next-now > l.period {
			if !fresh {
				fresh = true
				continue
			}
			return false, (l.period - (base - now)) / l.interval, time.Duration(base - now)
		}
		if n == 0 || b.tat.CompareAndSwap(tat, next) {
			return true, (l.period - (next - now)) / l.interval, time.Duration(next - now)
		}
	}
}

// State reports the whole tokens the bucket holds at now and, when it
// holds none, the time until it holds one again (0 otherwise): what Envoy's
// local rate limit sends as x-ratelimit-remaining and x-ratelimit-reset.
func (b *Bucket) State(l *Limit, now int64) (remaining int64, next time.Duration) {
	if l.capacity == 0 {
		return 0, time.Duration(l.period)
	}
	debt := max(b.tat.Load()-now, 0) // time until the bucket is full
	if remaining = (l.period - debt) / l.interval; remaining > 0 {
		return min(remaining, int64(l.capacity)), 0
	}
	return 0, time.Duration(debt - l.period + l.interval)
}

// Charge takes n tokens whether or not the bucket holds them, leaving it at
// worst empty (no debt beyond one Period). It is for costs known only after
// the fact, such as a response cost.
func (b *Bucket) Charge(l *Limit, now int64, n uint64) {
	if l.capacity == 0 || n == 0 {
		return
	}
	inc := int64(min(n, l.capacity)) * l.interval
	for {
		tat := b.tat.Load()
		next := min(max(tat, now)+inc, now+l.period)
		if next <= tat || b.tat.CompareAndSwap(tat, next) {
			return
		}
	}
}

// Full reports whether the bucket has refilled completely by now; a full
// bucket carries no state and can be dropped.
func (b *Bucket) Full(now int64) bool { return b.tat.Load() <= now }
