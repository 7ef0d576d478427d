package loadtest_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"ringchat/loadtest"
	"ringchat/loadtest/internal/runtest"
)

func TestCapacitySteps(t *testing.T) {
	for _, tc := range []struct {
		start, limit int
		want         []int
	}{
		{100, 19_000, []int{100, 200, 500, 1000, 2000, 5000, 10_000}},
		{300, 4000, []int{300, 500, 1000, 2000}},
		{1, 10, []int{1, 2, 5, 10}},
		{7, 7, []int{7}},
	} {
		if got := loadtest.CapacitySteps(tc.start, tc.limit); !slices.Equal(got, tc.want) {
			t.Errorf("CapacitySteps(%d, %d) = %v, want %v", tc.start, tc.limit, got, tc.want)
		}
	}
}

func TestCapacity(t *testing.T) {
	t.Parallel()
	base := runtest.QuickConfig(runtest.StartFake(t, nil).URL)
	base.Duration = 500 * time.Millisecond
	var seen []int
	cr, err := loadtest.Capacity(context.Background(), base, time.Minute, []int{5, 20}, func(st loadtest.CapacityStep) { seen = append(seen, st.Clients) })
	if err != nil {
		t.Fatal(err)
	}
	if cr.Clients != 20 || cr.LimitFound || len(cr.Steps) != 2 || !slices.Equal(seen, []int{5, 20}) {
		t.Errorf("capacity %d, steps %v", cr.Clients, seen)
	}
	if st := cr.Steps[0]; !st.Met || st.Result.Config.Senders != 5 {
		t.Errorf("first step %v, senders %d", st, st.Result.Config.Senders)
	}

	// A lossy server meets no target.
	base.URL = runtest.StartFake(t, func(n uint64) int { return int(n % 2) }).URL
	base.Drain = 200 * time.Millisecond
	cr, err = loadtest.Capacity(context.Background(), base, time.Minute, []int{5, 20}, nil)
	if err != nil || cr.Clients != 0 || !cr.LimitFound || len(cr.Steps) != 1 || cr.Steps[0].Met {
		t.Errorf("lossy: capacity %d, %d steps, err %v", cr.Clients, len(cr.Steps), err)
	}

	if _, err := loadtest.Capacity(context.Background(), base, time.Second, []int{5, 5}, nil); !errors.Is(err, loadtest.ErrInvalidConfig) {
		t.Errorf("steps not increasing: %v", err)
	}
}
