package report

import (
	"fmt"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

const (
	// maxDayLabels is how many dates the trend's axis names at most; a month of daily labels
	// would overlap.
	maxDayLabels = 8
	trendHeight  = vg.Length(170)
)

// trendChart draws the estimated cost per day as a line, one point per day of the window.
func trendChart(days []Day) (chart, error) {
	const title = "Daily cost"
	ch := chart{Title: title, Wide: true,
		Caption: "Estimated Athena cost of each day's queries (UTC days), every user together."}
	if len(days) == 0 {
		svg, err := noData(title)
		ch.SVG = svg
		return ch, err
	}
	pts := make(plotter.XYs, len(days))
	var most, sum float64
	for i, d := range days {
		pts[i] = plotter.XY{X: float64(i), Y: d.CostUSD}
		most = max(most, d.CostUSD)
		sum += d.CostUSD
	}
	ch.Caption += fmt.Sprintf(" %s over %d days, %s a day on average.", money(sum), len(days), money(sum/float64(len(days))))

	p := newPlot()
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	grid.Horizontal.Color = colorGrid
	grid.Horizontal.Width = vg.Points(0.5)
	p.Add(grid)
	line, points, err := plotter.NewLinePoints(pts)
	if err != nil {
		return ch, fmt.Errorf("trend line: %w", err)
	}
	line.Color, line.Width = colorCost, vg.Points(1.5)
	points.Shape = draw.CircleGlyph{}
	points.Color, points.Radius = colorCost, vg.Points(2)
	p.Add(line, points)

	p.X.Min, p.X.Max = -0.5, float64(len(days))-0.5
	p.X.Tick.Marker = dayTicks(days)
	// Headroom above the highest point keeps the top tick label inside the chart.
	p.Y.Min, p.Y.Max = 0, most*1.1
	if most == 0 {
		p.Y.Max = 1
	}
	p.Y.Tick.Marker = valueTicks{format: moneyTick}
	p.Y.Padding = vg.Points(2)
	ch.SVG, err = toSVG(p, heatWidth, trendHeight, title)
	return ch, err
}

// dayTicks labels at most maxDayLabels days of the trend's axis, evenly spaced from the first.
func dayTicks(days []Day) plot.Ticker {
	step := int(math.Ceil(float64(len(days)) / maxDayLabels))
	var ticks plot.ConstantTicks
	for i := 0; i < len(days); i += step {
		ticks = append(ticks, plot.Tick{Value: float64(i), Label: dayLabel(days[i].Day)})
	}
	return ticks
}

// dayLabel writes a day as "Mar 3"; a day that does not parse is shown as it is.
func dayLabel(day string) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	return t.Format("Jan 2")
}
