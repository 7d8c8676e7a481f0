package main

import (
	"flag"
	"fmt"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
)

// clientFlags are the flags every gateway client command takes.
type clientFlags struct {
	gateway, username, password, data, namespace string
	// ca is the CA to trust besides the system's (contract.EnvTLSCAFile);
	// empty: the local stack's, if it serves TLS (caFile).
	ca string
}

func (c *clientFlags) register(fs *flag.FlagSet, env contract.Env) {
	gateway := ""
	if env.IsSet(contract.EnvGatewayURL) {
		gateway = env.GatewayURL // else the local stack's: see client
	}
	fs.StringVar(&c.gateway, "gateway", gateway, "gateway URL (env "+contract.EnvGatewayURL+"); default: the local stack's, else "+contract.DefaultGatewayURL)
	fs.StringVar(&c.username, "username", env.GatewayUser, "gateway user (env "+contract.EnvGatewayUser+"); default: the local stack's")
	fs.StringVar(&c.password, "password", env.GatewayPassword, "gateway password (env "+contract.EnvGatewayPassword+"); default: the local stack's")
	fs.StringVar(&c.data, "data", env.DataDir, "local stack data folder, for its credentials (env "+contract.EnvDataDir+")")
	fs.StringVar(&c.namespace, "namespace", "", "function namespace (default: the gateway's)")
	fs.StringVar(&c.ca, "ca-file", env.CAFile(), "CA certificate to trust for https://, tls:// and tls=true links (env "+contract.EnvTLSCAFile+"); default: the local stack's, when it serves TLS")
}

// caFile is the CA to trust: the one given, else the local stack's.
func (c *clientFlags) caFile() string {
	if c.ca == "" {
		c.ca = localCA(c.data)
	}
	return c.ca
}

// localCA is the CA of the stack running on data, if it serves TLS.
func localCA(data string) string {
	if e, err := localstack.ReadEndpoints(data); err == nil {
		return e.CAFile
	}
	return ""
}

// client returns a gateway client with explicit credentials, or else the
// local stack's generated ones.
func (c *clientFlags) client() (*gateway.Client, error) {
	if c.gateway == "" {
		c.gateway = contract.DefaultGatewayURL
		if e, err := localstack.ReadEndpoints(c.data); err == nil {
			c.gateway = e.Gateway
		}
	}
	var gw *gateway.Client
	var err error
	if c.username != "" || c.password != "" {
		gw, err = gateway.New(c.gateway, c.username, c.password)
	} else if gw, err = gateway.NewFromSecrets(c.gateway, localstack.GatewaySecretsDir(c.data)); err != nil {
		return nil, fmt.Errorf("%w\n(no --username/--password given and no local stack credentials in %s: start the stack with `mysimbdp up` or pass credentials)", err, c.data)
	}
	if err != nil {
		return nil, err
	}
	if err := gw.TrustCA(c.caFile()); err != nil {
		return nil, err
	}
	return gw, nil
}

// parse parses a command's flags and checks its positional arguments.
// Flags may come before or after the positional arguments
// (`mysimbdp logs NAME --tail 5`), which the flag package alone refuses.
func parse(fs *flag.FlagSet, args []string, positional ...string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != len(positional) {
		fs.Usage()
		return nil, fmt.Errorf("%s: want arguments %v, got %d", fs.Name(), positional, len(pos))
	}
	return pos, nil
}
