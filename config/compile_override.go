package config

import (
	"fmt"
)

// OverridePlan is one responseOverride[i].
type OverridePlan struct {
	Index  int
	Ranges []StatusRange // upstream statuses that match, inclusive
	// Status replaces the upstream status; 0 keeps it.
	Status int
	// ContentType and Body are Envoy format strings (format.go).
	ContentType Format
	Body        Format
}

type StatusRange struct{ Lo, Hi int }

// Matches reports whether an upstream status matches this override.
func (o *OverridePlan) Matches(status int) bool {
	for _, r := range o.Ranges {
		if status >= r.Lo && status <= r.Hi {
			return true
		}
	}
	return false
}

func compileOverrides(list []ResponseOverride) ([]OverridePlan, error) {
	out := make([]OverridePlan, 0, len(list))
	for i, o := range list {
		path := fmt.Sprintf("responseOverride[%d]", i)
		plan := OverridePlan{Index: i}
		var err error
		if len(o.Match.StatusCodes) == 0 {
			return nil, fmt.Errorf("%s.match.statusCodes: at least one status code or range is required", path)
		}
		for j, sc := range o.Match.StatusCodes {
			sp := fmt.Sprintf("%s.match.statusCodes[%d]", path, j)
			typ := "Value"
			if sc.Type != nil {
				typ = *sc.Type
			}
			switch typ {
			case "Value":
				if sc.Value == nil {
					return nil, fmt.Errorf("%s.value: required for type Value", sp)
				}
				if sc.Range != nil {
					return nil, fmt.Errorf("%s.range: must be unset for type Value", sp)
				}
				if err := checkStatus(*sc.Value, sp+".value"); err != nil {
					return nil, err
				}
				plan.Ranges = append(plan.Ranges, StatusRange{*sc.Value, *sc.Value})
			case "Range":
				if sc.Range == nil {
					return nil, fmt.Errorf("%s.range: required for type Range", sp)
				}
				if sc.Value != nil {
					return nil, fmt.Errorf("%s.value: must be unset for type Range", sp)
				}
				if err := checkStatus(sc.Range.Start, sp+".range.start"); err != nil {
					return nil, err
				}
				if err := checkStatus(sc.Range.End, sp+".range.end"); err != nil {
					return nil, err
				}
				if sc.Range.End < sc.Range.Start {
					return nil, fmt.Errorf("%s.range: end %d is below start %d", sp, sc.Range.End, sc.Range.Start)
				}
				plan.Ranges = append(plan.Ranges, StatusRange{sc.Range.Start, sc.Range.End})
			default:
				return nil, fmt.Errorf("%s.type: unknown type %q: allowed Value, Range", sp, typ)
			}
		}
		if o.Response == nil {
			return nil, fmt.Errorf("%s.response: required", path)
		}
		r := o.Response
		if r.StatusCode != nil {
			if err := checkStatus(*r.StatusCode, path+".response.statusCode"); err != nil {
				return nil, err
			}
			plan.Status = *r.StatusCode
		}
		if plan.ContentType, err = ParseFormat(deref(r.ContentType), path+".response.contentType"); err != nil {
			return nil, err
		}
		if b := r.Body; b != nil {
			typ := "Inline"
			if b.Type != nil {
				typ = *b.Type
			}
			switch typ {
			case "Inline":
				if b.Inline == nil {
					return nil, fmt.Errorf("%s.response.body.inline: required for type Inline", path)
				}
				if plan.Body, err = ParseFormat(*b.Inline, path+".response.body.inline"); err != nil {
					return nil, err
				}
			case "ValueRef":
				return nil, fmt.Errorf("%s.response.body.type: ValueRef must be resolved to Inline by `btp render` before the config reaches Envoy", path)
			default:
				return nil, fmt.Errorf("%s.response.body.type: unknown type %q: allowed Inline", path, typ)
			}
		}
		out = append(out, plan)
	}
	return out, nil
}

func checkStatus(v int, path string) error {
	if v < 100 || v > 599 {
		return fmt.Errorf("%s: status %d out of range: allowed 100 to 599", path, v)
	}
	return nil
}

// Formats lists every format string of the plan, for callers that need to
// know what the formats read.
func (o *OverridePlan) Formats() []*Format {
	return []*Format{&o.ContentType, &o.Body}
}
