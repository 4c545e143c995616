// Package timing turns measured durations into the numbers reports show:
// milliseconds for JSON and CSV, and rates in items per second.
package timing

import "time"

// MS is d in milliseconds, with the fraction kept.
func MS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// PerSecond is n items in d as items per second; 0 when d is not positive.
func PerSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
