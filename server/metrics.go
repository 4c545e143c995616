package server

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/xraygpt-go/xraygpt/engine"
)

// metrics are the server's Prometheus series, in a registry of its own.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec   // by path and status
	duration  *prometheus.HistogramVec // by path
	firstText prometheus.Histogram     // time to the first streamed text
	prompt    prometheus.Counter
}

func newMetrics(stats func() engine.SchedulerStats) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xraygpt_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"path", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "xraygpt_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}, []string{"path"}),
		firstText: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "xraygpt_time_to_first_text_seconds", Help: "Time from a chat request to its first answer text.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}),
		prompt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xraygpt_prompt_tokens_total", Help: "Prompt positions (text and soft tokens) of answered requests.",
		}),
	}
	gauge := func(name, help string, f func(engine.SchedulerStats) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(f(stats())) })
	}
	counter := func(name, help string, f func(engine.SchedulerStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f(stats())) })
	}
	m.reg.MustRegister(m.requests, m.duration, m.firstText, m.prompt,
		counter("xraygpt_generated_tokens_total", "Tokens generated.", func(s engine.SchedulerStats) int64 { return s.GeneratedTokens }),
		gauge("xraygpt_slots", "Sequences that can generate at once.", func(s engine.SchedulerStats) int { return s.Slots }),
		gauge("xraygpt_slots_busy", "Slots generating now.", func(s engine.SchedulerStats) int { return s.Busy }),
		gauge("xraygpt_queue_depth", "Requests waiting for a slot.", func(s engine.SchedulerStats) int { return s.Queued }),
		counter("xraygpt_reused_prompt_positions_total", "Prompt positions taken from the KV cache instead of decoded (shared system prompt, and the image and earlier turns of follow-ups).",
			func(s engine.SchedulerStats) int64 { return s.ReusedPositions }),
		counter("xraygpt_decode_steps_total", "Decode steps of the scheduler.", func(s engine.SchedulerStats) int64 { return s.Steps }),
		counter("xraygpt_batched_tokens_total", "Generated tokens that shared a decode step with another sequence's.", func(s engine.SchedulerStats) int64 { return s.BatchedTokens }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) observe(path string, status int, seconds float64) {
	m.requests.WithLabelValues(path, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(path).Observe(seconds)
}
