package config

import (
	"fmt"
)

type BufferPlan struct {
	Limit int64 // bytes
}

func compileBuffer(b *RequestBuffer) (*BufferPlan, error) {
	n, err := ParseQuantity(b.Limit)
	if err != nil {
		return nil, fmt.Errorf("requestBuffer.limit: %v", err)
	}
	if n <= 0 {
		return nil, fmt.Errorf("requestBuffer.limit: %q: must be above zero", b.Limit)
	}
	return &BufferPlan{Limit: n}, nil
}
