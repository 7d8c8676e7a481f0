package console

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/stats"
)

// The charts: one point per minute over the last hour.
const (
	chartSpan   = time.Hour
	chartPoints = 60
	sparkW      = 120
	sparkH      = 24
)

// series is one figure of one tenant over the last hour.
type series struct {
	Label string
	// Total sums the hour (the peak, for a time such as p95).
	Total string
	Last  string
	SVG   template.HTML
}

// figureDef is how one chart reads a window.
type figureDef struct {
	label string
	get   func(f stats.Figures) float64
	// peak: the minute's value is its windows' highest, not their sum.
	peak   bool
	format func(float64) string
}

var figureDefs = []figureDef{
	{label: "files", get: func(f stats.Figures) float64 { return float64(f.Files) }, format: count},
	{label: "rows ok", get: func(f stats.Figures) float64 { return float64(f.RowsOK) }, format: count},
	{label: "rows rejected", get: func(f stats.Figures) float64 { return float64(f.RowsRejected) }, format: count},
	{label: "messages", get: func(f stats.Figures) float64 { return float64(f.Messages) }, format: count},
	{label: "bytes", get: func(f stats.Figures) float64 { return float64(f.FileBytes + f.StreamBytes) }, format: bytesText},
	{label: "failures", get: func(f stats.Figures) float64 { return float64(f.FileFailures + f.StreamFailures) }, format: count},
	{label: "p95 ingest", get: func(f stats.Figures) float64 { return max(f.FileP95MS, f.BatchP95MS) }, peak: true, format: msText},
}

// chartsOf draws every figure of tenant's windows over [end-chartSpan, end).
func chartsOf(windows []stats.Window, tenant string, end time.Time) []series {
	start := end.Add(-chartSpan)
	step := chartSpan / chartPoints
	vals := make([][]float64, len(figureDefs))
	for i := range vals {
		vals[i] = make([]float64, chartPoints)
	}
	for _, w := range windows {
		if w.Tenant != tenant || w.Start.Before(start) || !w.Start.Before(end) {
			continue
		}
		slot := int(w.Start.Sub(start) / step)
		for i, d := range figureDefs {
			v := d.get(w.Figures)
			if d.peak {
				vals[i][slot] = max(vals[i][slot], v)
			} else {
				vals[i][slot] += v
			}
		}
	}
	out := make([]series, len(figureDefs))
	for i, d := range figureDefs {
		var total float64
		for _, v := range vals[i] {
			if d.peak {
				total = max(total, v)
			} else {
				total += v
			}
		}
		out[i] = series{Label: d.label, Total: d.format(total), Last: d.format(vals[i][chartPoints-1]), SVG: sparkline(vals[i])}
	}
	return out
}

// sparkline draws values as an inline SVG polyline scaled to its peak.
// Only numbers go into the markup, so it is safe as HTML.
func sparkline(values []float64) template.HTML {
	peak := 0.0
	for _, v := range values {
		peak = max(peak, v)
	}
	var pts strings.Builder
	for i, v := range values {
		x := float64(i) * sparkW / float64(max(len(values)-1, 1))
		y := float64(sparkH - 1)
		if peak > 0 {
			y = float64(sparkH-1) - v/peak*float64(sparkH-2)
		}
		fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
	}
	return template.HTML(fmt.Sprintf(
		`<svg class="spark" width="%d" height="%d" viewBox="0 0 %d %d" role="img"><polyline points="%s"/></svg>`,
		sparkW, sparkH, sparkW, sparkH, strings.TrimSpace(pts.String())))
}

func count(v float64) string { return fmt.Sprintf("%.0f", v) }

func msText(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.1fs", v/1000)
	}
	return fmt.Sprintf("%.0fms", v)
}

func bytesText(v float64) string {
	units := []string{"B", "KB", "MB", "GB", "TB"}
	i := 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f%s", v, units[i])
	}
	return fmt.Sprintf("%.1f%s", math.Round(v*10)/10, units[i])
}
