package profile

import "fmt"

// FieldType is the type of a schema field.
type FieldType string

// The field types. A date is stored as a BSON date at midnight UTC (so a
// MongoDB user can query it by range), a date_string as the ISO text
// "yyyy-mm-dd" (what date meant before, for profiles that rely on it) and a
// datetime as a UTC timestamp.
const (
	TypeString     FieldType = "string"
	TypeInt        FieldType = "int"
	TypeFloat      FieldType = "float"
	TypeBool       FieldType = "bool"
	TypeDate       FieldType = "date"
	TypeDateString FieldType = "date_string"
	TypeDatetime   FieldType = "datetime"
)

// UnmarshalText implements encoding.TextUnmarshaler, refusing unknown types.
func (t *FieldType) UnmarshalText(b []byte) error {
	switch v := FieldType(b); v {
	case TypeString, TypeInt, TypeFloat, TypeBool, TypeDate, TypeDateString, TypeDatetime:
		*t = v
		return nil
	}
	return fmt.Errorf("%q is not a type (want string, int, float, bool, date, date_string or datetime)", b)
}

// IsTime says whether values of the type are read with date layouts.
func (t FieldType) IsTime() bool {
	return t == TypeDate || t == TypeDateString || t == TypeDatetime
}

// Format is a batch file format.
type Format string

// The batch file formats.
const (
	FormatCSV    Format = "csv"
	FormatJSON   Format = "json"   // one JSON array of objects
	FormatNDJSON Format = "ndjson" // one JSON object per line
)

// UnmarshalText implements encoding.TextUnmarshaler, refusing unknown formats.
func (f *Format) UnmarshalText(b []byte) error {
	switch v := Format(b); v {
	case FormatCSV, FormatJSON, FormatNDJSON:
		*f = v
		return nil
	}
	return fmt.Errorf("%q is not a supported format (want csv, json or ndjson)", b)
}

// DeriveOp is how a derived field is computed.
type DeriveOp string

// The derive operations, deliberately few: a profile is configuration, not a
// program.
const (
	OpConcat   DeriveOp = "concat"   // the from fields as text, joined by sep; null counts as ""
	OpCopy     DeriveOp = "copy"     // the value of the one from field
	OpConstant DeriveOp = "constant" // the string value
)

// UnmarshalText implements encoding.TextUnmarshaler, refusing unknown ops.
func (o *DeriveOp) UnmarshalText(b []byte) error {
	switch v := DeriveOp(b); v {
	case OpConcat, OpCopy, OpConstant:
		*o = v
		return nil
	}
	return fmt.Errorf("%q is not an op (want concat, copy or constant)", b)
}

// UnknownFields is the policy for source fields that are not in the schema.
type UnknownFields string

// The unknown-field policies.
const (
	UnknownReject UnknownFields = "reject"
	UnknownIgnore UnknownFields = "ignore"
)

// UnmarshalText implements encoding.TextUnmarshaler.
func (u *UnknownFields) UnmarshalText(b []byte) error {
	switch v := UnknownFields(b); v {
	case UnknownReject, UnknownIgnore:
		*u = v
		return nil
	}
	return fmt.Errorf("%q is not a policy (want reject or ignore)", b)
}

// AppSource says who provides one of a tenant's ingest apps.
type AppSource string

// The app sources.
const (
	AppPlatform AppSource = "platform" // the platform's generic app (default)
	AppOwn      AppSource = "own"      // the tenant's own app, deployed by the tenant
)

// UnmarshalText implements encoding.TextUnmarshaler, refusing unknown sources.
func (a *AppSource) UnmarshalText(b []byte) error {
	switch v := AppSource(b); v {
	case AppPlatform, AppOwn:
		*a = v
		return nil
	}
	return fmt.Errorf("%q is not an app source (want platform or own)", b)
}

// FanoutForm is what a fan-out sink gets of each row.
type FanoutForm string

// The fan-out forms.
const (
	FormTyped FanoutForm = "typed" // the document as the main sink stores it (default)
	FormRaw   FanoutForm = "raw"   // the record as it arrived
)

// UnmarshalText implements encoding.TextUnmarshaler, refusing unknown forms.
func (f *FanoutForm) UnmarshalText(b []byte) error {
	switch v := FanoutForm(b); v {
	case FormTyped, FormRaw:
		*f = v
		return nil
	}
	return fmt.Errorf("%q is not a form (want typed or raw)", b)
}
