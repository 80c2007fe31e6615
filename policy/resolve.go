package policy

import (
	"k8s.io/apimachinery/pkg/types"
)

// Resolve validates r and builds the Model: listeners, attached routes,
// backends, effective policies and policy status.
func Resolve(r *Resources) (*Model, error) {
	var list ErrorList
	m := &Model{Policies: r.Policies}
	for _, g := range r.Gateways {
		mg := &Gateway{Name: types.NamespacedName{Namespace: g.Namespace, Name: g.Name}}
		for i := range g.Spec.Listeners {
			l := &g.Spec.Listeners[i]
			ml := &Listener{Name: string(l.Name), Port: int32(l.Port)}
			if l.Hostname != nil {
				h := string(*l.Hostname)
				ml.Hostname = &h
			}
			mg.Listeners = append(mg.Listeners, ml)
		}
		m.Gateways = append(m.Gateways, mg)
	}
	return m, list.Err()
}
