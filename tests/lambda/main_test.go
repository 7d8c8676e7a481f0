// Package lambda tests the platform's functions as AWS Lambda functions:
// each function's bootstrap binary, built by infra/build/lambdabuild exactly as
// for a deployment (provided.al2023, -tags lambda.norpc), runs under AWS's
// Lambda runtime interface emulator (bin/aws-lambda-rie, built by
// scripts/setup), which serves the Lambda Runtime API to it and takes
// invocations on POST /2015-03-31/functions/function/invocations. The
// events are the JSON Lambda sends for S3, SQS and Kinesis; the data goes
// to a real MinIO server process and an embedded FerretDB, started once
// for the package on free ports in a temporary folder.
package lambda

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/build/lambdabuild"
	"github.com/mysimbdp/mysimbdp/infra/local/ferret"
	"github.com/mysimbdp/mysimbdp/infra/local/minioserver"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// platform is what TestMain started; read-only once tests run.
type platform struct {
	s3Endpoint, s3User, s3Pass string
	mongoURI                   string
	s3                         *minio.Client
	db                         *mongo.Client
	// rie is the emulator; bootstrap maps a function to its binary.
	rie       string
	bootstrap map[string]string
}

var env platform

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	fail := func(what string, err error) int {
		fmt.Fprintf(os.Stderr, "tests/lambda: %s: %v\n", what, err)
		return 1
	}
	root, err := harness.RepoRoot()
	if err != nil {
		return fail("find the repository", err)
	}
	// The parts a deployment would not have are checked first, so that a
	// machine without them fails at once with what to do.
	env.rie = filepath.Join(root, "bin", "aws-lambda-rie")
	if _, err := os.Stat(env.rie); err != nil {
		return fail("the Lambda runtime interface emulator is missing", fmt.Errorf("%w; run ./scripts/setup to build bin/aws-lambda-rie", err))
	}
	minioBin := filepath.Join(root, "bin", "minio")
	if _, err := os.Stat(minioBin); err != nil {
		return fail("the MinIO server is missing", fmt.Errorf("%w; run ./scripts/setup to build bin/minio", err))
	}

	dir, err := os.MkdirTemp("", "mysimbdp-lambda-test-")
	if err != nil {
		return fail("temporary folder", err)
	}
	defer os.RemoveAll(dir)

	// Built like a deployment, for this machine's architecture.
	bctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	arts, err := lambdabuild.Build(bctx, lambdabuild.Options{Root: root, Functions: []string{"batch-ingest", "stream-ingest", "echo"},
		Archs: []string{runtime.GOARCH}, OutDir: filepath.Join(dir, "lambda")})
	if err != nil {
		return fail("build the functions' bootstrap binaries", err)
	}
	env.bootstrap = map[string]string{}
	for _, a := range arts {
		env.bootstrap[a.Function] = a.Bootstrap
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ms, err := minioserver.Start(ctx, minioserver.Config{Binary: minioBin, DataDir: filepath.Join(dir, "minio")}, log)
	if err != nil {
		return fail("start MinIO", err)
	}
	defer ms.Stop(context.Background())
	fs, err := ferret.Start(ctx, ferret.Config{DataDir: filepath.Join(dir, "ferret")}, log)
	if err != nil {
		return fail("start FerretDB", err)
	}
	defer fs.Stop()

	env.s3Endpoint, env.s3User, env.s3Pass, env.mongoURI = ms.Endpoint(), ms.RootUser(), ms.RootPassword(), fs.URI()
	if env.s3, err = minio.New(env.s3Endpoint, &minio.Options{Creds: credentials.NewStaticV4(env.s3User, env.s3Pass, "")}); err != nil {
		return fail("S3 client", err)
	}
	if env.db, err = mongo.Connect(options.Client().ApplyURI(env.mongoURI)); err != nil {
		return fail("MongoDB client", err)
	}
	// Disconnect before FerretDB stops, so its Stop need not wait for us.
	defer env.db.Disconnect(context.Background())
	return m.Run()
}
