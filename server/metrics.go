package server

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus series, in a registry of its own.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec   // by path and status
	duration  *prometheus.HistogramVec // by path
	firstText prometheus.Histogram     // time to the first streamed text
	prompt    prometheus.Counter
	generated prometheus.Counter
}

func newMetrics(stats func() genStats) *metrics {
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
		generated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xraygpt_generated_tokens_total", Help: "Tokens generated.",
		}),
	}
	gauge := func(name, help string, f func(genStats) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(f(stats())) })
	}
	m.reg.MustRegister(m.requests, m.duration, m.firstText, m.prompt, m.generated,
		gauge("xraygpt_slots", "Sequences that can generate at once.", func(s genStats) int { return s.Slots }),
		gauge("xraygpt_slots_busy", "Slots generating now.", func(s genStats) int { return s.Busy }),
		gauge("xraygpt_queue_depth", "Requests waiting for a slot.", func(s genStats) int { return s.Queued }),
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
