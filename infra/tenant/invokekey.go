package tenant

import (
	"context"
	"fmt"
	"slices"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/shared/invokesig"
)

// WithInvokeKey gives function d its own invocation key, derived from the
// platform's master key: it stores the key as the secret
// contract.InvokeKeySecret(d.Service) and makes d mount it and name it
// (contract.EnvInvokeKeySecret), so that the function's runtime refuses
// invocations the connector did not sign. The key is the same on every
// call, so a repeated deployment changes nothing. An empty master leaves d
// as it is.
func WithInvokeKey(ctx context.Context, gw *gateway.Client, master string, d *types.FunctionDeployment) error {
	if master == "" {
		return nil
	}
	name := contract.InvokeKeySecret(d.Service)
	key := invokesig.FunctionKey([]byte(master), d.Service)
	if err := gw.SetSecret(ctx, types.Secret{Name: name, Namespace: d.Namespace, RawValue: key}); err != nil {
		return fmt.Errorf("store the invocation key of %s: %w", d.Service, err)
	}
	if !slices.Contains(d.Secrets, name) {
		d.Secrets = append(d.Secrets, name)
	}
	if d.EnvVars == nil {
		d.EnvVars = map[string]string{}
	}
	d.EnvVars[contract.EnvInvokeKeySecret] = name
	return nil
}
