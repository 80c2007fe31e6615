package policy

import (
	"crypto/tls"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// ListenerTLS is what an HTTPS listener terminates TLS with.
type ListenerTLS struct {
	// Certificates in certificateRefs order; Envoy picks the one that
	// fits the client (e.g. RSA or ECDSA).
	Certificates []Certificate
}

// Certificate is one kubernetes.io/tls Secret's key pair, PEM encoded.
type Certificate struct {
	Secret types.NamespacedName
	Chain  []byte // tls.crt
	Key    []byte // tls.key
}

// listenerTLS resolves an HTTPS or TLS Terminate listener's tls (at path) as
// Envoy Gateway's validateTLSConfiguration does: mode Terminate, at least
// one certificateRef, each a core Secret (in another namespace only where a
// ReferenceGrant admits the Gateway) of type kubernetes.io/tls whose tls.crt
// and tls.key form a key pair. A TLS listener in mode Passthrough carries
// no certificates; an HTTP or TCP listener must not set tls.
// ownerKind and ownerNS are the Gateway or ListenerSet declaring l: its
// namespace is the Secrets' default and the ReferenceGrant's from.
func (v *resolver) listenerTLS(ownerKind, ownerNS string, l *gwapiv1.Listener, path string, e errs) *ListenerTLS {
	switch l.Protocol {
	case gwapiv1.TLSProtocolType:
		if l.TLS == nil {
			e.add(path+".tls", "required on a TLS listener: mode Passthrough, or Terminate with certificateRefs")
			return nil
		}
		if l.TLS.Mode != nil && *l.TLS.Mode == gwapiv1.TLSModePassthrough {
			// Envoy forwards the client's TLS stream by SNI.
			if len(l.TLS.CertificateRefs) > 0 {
				e.add(path+".tls.certificateRefs", "set on a Passthrough listener: the backend terminates TLS")
			}
			return nil
		}
		// Terminate (the Gateway API default): as HTTPS, Envoy decrypts
		// and forwards the plaintext stream.
	case gwapiv1.HTTPSProtocolType:
	default:
		if l.TLS != nil {
			e.add(path+".tls", "set on a %s listener: only HTTPS and TLS listeners terminate TLS", l.Protocol)
		}
		return nil
	}
	if l.TLS == nil || len(l.TLS.CertificateRefs) == 0 {
		what := "an HTTPS listener"
		if l.Protocol == gwapiv1.TLSProtocolType {
			what = "a TLS listener in mode Terminate"
		}
		e.add(path+".tls.certificateRefs", "required on %s: at least one kubernetes.io/tls Secret", what)
		return nil
	}
	if l.TLS.Mode != nil && *l.TLS.Mode != gwapiv1.TLSModeTerminate {
		e.add(path+".tls.mode", "unsupported value %q on an HTTPS listener: allowed Terminate", *l.TLS.Mode)
		return nil
	}
	if len(l.TLS.Options) > 0 {
		e.add(path+".tls.options", "not supported: envoy-btp renders Envoy Gateway's default TLS settings")
	}
	out := &ListenerTLS{}
	for i, ref := range l.TLS.CertificateRefs {
		rp := fmt.Sprintf("%s.tls.certificateRefs[%d]", path, i)
		if (ref.Group != nil && *ref.Group != "") || (ref.Kind != nil && *ref.Kind != "Secret") {
			e.add(rp, "unsupported reference %s/%s: allowed a core Secret", deref(ref.Group), deref(ref.Kind))
			continue
		}
		key := types.NamespacedName{Namespace: ownerNS, Name: string(ref.Name)}
		if ref.Namespace != nil {
			key.Namespace = string(*ref.Namespace)
		}
		if !v.granted(gwapiv1.GroupName, ownerKind, ownerNS, "", "Secret", key.Namespace, key.Name) {
			e.add(rp+".namespace", "Secret %s in another namespace needs a ReferenceGrant in namespace %s from %s in namespace %s: none admits it", key, key.Namespace, ownerKind, ownerNS)
			continue
		}
		s := v.secrets[key]
		if s == nil {
			e.add(rp+".name", "Secret %q not found: allowed %s", key.String(), keys(v.secrets))
			continue
		}
		c, err := tlsPair(s)
		if err != nil {
			e.add(rp+".name", "Secret %s: %v", key, err)
			continue
		}
		out.Certificates = append(out.Certificates, c)
	}
	if len(out.Certificates) == 0 {
		return nil
	}
	return out
}

// tlsPair reads a kubernetes.io/tls Secret (data, with stringData over
// it as the API server merges them) and checks that its certificate chain
// and private key match.
func tlsPair(s *corev1.Secret) (Certificate, error) {
	if s.Type != corev1.SecretTypeTLS {
		return Certificate{}, fmt.Errorf("type %q: allowed %s", s.Type, corev1.SecretTypeTLS)
	}
	get := func(k string) []byte {
		if v, ok := s.StringData[k]; ok {
			return []byte(v)
		}
		return s.Data[k]
	}
	chain, key := get(corev1.TLSCertKey), get(corev1.TLSPrivateKeyKey)
	if len(chain) == 0 || len(key) == 0 {
		return Certificate{}, fmt.Errorf("needs %s and %s", corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	if _, err := tls.X509KeyPair(chain, key); err != nil {
		return Certificate{}, fmt.Errorf("%s and %s are not a PEM certificate and its private key: %v", corev1.TLSCertKey, corev1.TLSPrivateKeyKey, err)
	}
	return Certificate{Secret: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}, Chain: chain, Key: key}, nil
}

func deref[T ~string](p *T) string {
	if p == nil {
		return ""
	}
	return string(*p)
}
