package quality

import "go.mongodb.org/mongo-driver/v2/bson"

// bdoc is a bson.D as the rules read it (shared/dataset.Fields outside
// tests).
type bdoc bson.D

func (d bdoc) Len() int                  { return len(d) }
func (d bdoc) Field(i int) (string, any) { return d[i].Key, d[i].Value }
