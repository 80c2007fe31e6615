package bucket

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// Benchmarks compare this bucket with golang.org/x/time/rate (a mutex per
// limiter) in the same run. Run with:
//
//	go test -run '^$' -bench . -benchmem -cpu 1,2,8 ./filter/bucket/

func BenchmarkTakeParallel(b *testing.B) {
	l := NewLimit(1<<40, time.Second)
	var bk Bucket
	start := time.Now()
	clock := func() int64 { return int64(time.Since(start)) }
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			bk.Take(&l, clock(), 1, clock)
		}
	})
}

func BenchmarkXTimeRateParallel(b *testing.B) {
	lim := rate.NewLimiter(rate.Limit(1<<40), 1<<30)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			lim.Allow()
		}
	})
}

func BenchmarkTableGetParallel(b *testing.B) {
	tbl := NewTable(65536)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "client-" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
	}
	var n atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		i := n.Add(1) * 7919
		for pb.Next() {
			tbl.Get(keys[i%1024], 0)
			i++
		}
	})
}

// BenchmarkAccuracy8Goroutines: 8 goroutines hammer one 100k/s limiter
// for 500ms of wall time (after its burst is drained); reported as
// admitted/expected, for this bucket and for x/time/rate. The burst is
// 50ms of tokens: on a loaded machine the whole process is descheduled for
// 10ms and more, and a smaller burst loses the tokens that accrue
// meanwhile (a token bucket caps at its burst by design), which would
// measure the scheduler rather than the limiter.
func BenchmarkAccuracy8Goroutines(b *testing.B) {
	const perSec = 100_000
	const window = 500 * time.Millisecond
	run := func(b *testing.B, allow func() bool) {
		var ratio float64
		for i := 0; i < b.N; i++ {
			for allow() { // drain the burst
			}
			var admitted atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			deadline := start.Add(window)
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n := int64(0)
					for time.Now().Before(deadline) {
						if allow() {
							n++
						}
					}
					admitted.Add(n)
				}()
			}
			wg.Wait()
			elapsed := time.Since(start).Seconds()
			ratio += float64(admitted.Load()) / (perSec * elapsed)
		}
		b.ReportMetric(ratio/float64(b.N), "admitted/expected")
	}
	b.Run("bucket", func(b *testing.B) {
		l := NewLimit(5000, 50*time.Millisecond) // 100k/s, burst 5000
		var bk Bucket
		base := time.Now()
		clock := func() int64 { return int64(time.Since(base)) }
		run(b, func() bool { ok, _, _ := bk.Take(&l, clock(), 1, clock); return ok })
	})
	b.Run("x-time-rate", func(b *testing.B) {
		lim := rate.NewLimiter(perSec, 5000)
		run(b, lim.Allow)
	})
}

// BenchmarkAccuracyFakeClock8Goroutines is the scheduler-independent
// measurement: 8 goroutines share one 100k/s bucket and a fake clock that
// moves 1µs per attempt (8x more demand than supply); reported as
// admitted / (rate × elapsed + burst).
func BenchmarkAccuracyFakeClock8Goroutines(b *testing.B) {
	b.Run("bucket", func(b *testing.B) {
		var ratio float64
		for i := 0; i < b.N; i++ {
			ratio += fakeClockRatio(100_000)
		}
		b.ReportMetric(ratio/float64(b.N), "admitted/expected")
	})
	b.Run("x-time-rate", func(b *testing.B) {
		var ratio float64
		for i := 0; i < b.N; i++ {
			ratio += fakeClockRatioXRate(100_000)
		}
		b.ReportMetric(ratio/float64(b.N), "admitted/expected")
	})
}

// fakeClockRatioXRate is fakeClockRatio for golang.org/x/time/rate, fed
// the same fake clock through AllowN.
func fakeClockRatioXRate(perG int) float64 {
	lim := rate.NewLimiter(100_000, 100)
	base := time.Unix(1_000_000, 0)
	var clock, admitted atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := int64(0)
			for i := 0; i < perG; i++ {
				if lim.AllowN(base.Add(time.Duration(clock.Add(1000))), 1) {
					n++
				}
			}
			admitted.Add(n)
		}()
	}
	wg.Wait()
	elapsed := float64(clock.Load()) / 1e9
	return float64(admitted.Load()) / (100_000*elapsed + 100)
}

// fakeClockRatio runs 8 goroutines × perG attempts on a 100k/s bucket
// (burst 100) with a shared fake clock stepping 1µs per attempt.
func fakeClockRatio(perG int) float64 {
	l := NewLimit(100, time.Millisecond)
	var bk Bucket
	var clock, admitted atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := int64(0)
			for i := 0; i < perG; i++ {
				if ok, _, _ := bk.Take(&l, clock.Add(1000), 1, clock.Load); ok {
					n++
				}
			}
			admitted.Add(n)
		}()
	}
	wg.Wait()
	elapsed := float64(clock.Load()) / 1e9
	return float64(admitted.Load()) / (100_000*elapsed + 100)
}

// BenchmarkTableFloodParallel: fresh keys against a table whose every
// bucket holds a limited client (the key-flood attack): the cost of a
// request whose key finds no room.
func BenchmarkTableFloodParallel(b *testing.B) {
	tbl := NewTable(4096)
	l := NewLimit(2, time.Hour)
	for i := 0; tbl.Len() < tbl.MaxKeys(); i++ {
		bk, _ := tbl.Get("held-"+strconv.Itoa(i), 0)
		bk.Take(&l, 0, 2, nil)
	}
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = "flood-" + strconv.Itoa(i)
	}
	var n atomic.Uint64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := n.Add(1) * 7919
		for pb.Next() {
			bk, _ := tbl.Get(keys[i%uint64(len(keys))], int64(i))
			bk.Take(&l, int64(i), 1, nil)
			i++
		}
	})
}
